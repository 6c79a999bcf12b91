"""The OpenAPI 3.1 description of /api/v1: every endpoint, who may call it, and every error it answers."""

from __future__ import annotations

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
NUMBER_OR_NULL = {"type": ["number", "null"]}
INTERVAL = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
OPTION = {
    "type": "object",
    "required": ["code", "label", "count", "share", "ci95"],
    "properties": {
        "code": {"type": "string"},
        "label": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "count": {"type": ["integer", "null"], "minimum": 0,
                  "description": "null while the poll's answers are withheld (fewer than 10, or all one option)"},
        "share": {**NUMBER_OR_NULL, "minimum": 0, "maximum": 1},
        "ci95": {**INTERVAL, "description": "Wilson 95% interval of the raw share, as if the answers were a "
                                            "simple random sample (they are not: the poll is self-selected)"},
        "weighted_share": NUMBER_OR_NULL,
        "weighted_ci95": INTERVAL,
        "true_share": NUMBER_OR_NULL,
    },
}
CATEGORY = {
    "type": "object",
    "required": ["code", "suppressed"],
    "properties": {
        "code": {"type": "string"},
        "invited": {"type": "integer"},
        "answered": {"type": ["integer", "null"]},
        "response_rate": NUMBER_OR_NULL,
        "shares": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
        "suppressed": {"type": "boolean"},
    },
}
CHOICE = {
    "type": "object",
    "required": ["code", "label", "count", "share", "ci95", "suppressed"],
    "properties": {
        "code": {"type": "string"},
        "label": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "count": {"type": ["integer", "null"], "minimum": 0},
        "share": {**NUMBER_OR_NULL, "minimum": 0, "maximum": 1,
                  "description": "of those who answered the question"},
        "ci95": INTERVAL,
        "suppressed": {"type": "boolean",
                       "description": "a group too small to show without pointing at someone's answers"},
        "headline": {"type": ["object", "null"], "additionalProperties": {"type": "number"},
                     "description": "the headline's shares among those who chose this (its crossing)"},
    },
}
QUESTION = {
    "type": "object",
    "required": ["name", "type", "label", "answered"],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["select_one", "select_multiple", "integer", "governorate", "text"]},
        "role": {"type": ["string", "null"], "enum": ["headline", "profile", None]},
        "label": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "answered": {"type": ["integer", "null"], "minimum": 0},
        "options": {"type": "array", "items": {"anyOf": [OPTION, CHOICE]},
                    "description": "choice questions; the headline's are the top-level options"},
        "summary": {
            "type": ["object", "null"], "description": "integer questions, from ten answers",
            "properties": {name: NUMBER_OR_NULL for name in ("n", "mean", "median", "q1", "q3")},
        },
    },
}
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
RATES = {
    "type": "object",
    "description": "AAPOR final dispositions of the links sent and the outcome rates of the Standard Definitions "
                   "(2023); a rate is null where its denominator is 0",
    "required": ["dispositions", "e", "e_method", "RR1", "RR3", "COOP1", "REF1", "CON1"],
    "properties": {
        "dispositions": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                         "description": "complete, partial, refusal, non_contact, other, unknown (sent, fate "
                                        "unknown), not_eligible (the network reported the number unknown or not "
                                        "allocated), not_sent (no invitation sent: of unknown eligibility, in the "
                                        "base)"},
        "e": {**RATE, "description": "the share of cases of unknown eligibility estimated eligible"},
        "e_method": {"type": "string"},
        "e_by_construction": {"type": "boolean",
                              "description": "e is 1 only because no case is known not eligible"},
        "rate_name": {"type": "string", "enum": ["response rate", "participation rate"],
                      "description": "response rates only for a probability sample of a defined frame"},
        **{name: RATE for name in ("RR1", "RR2", "RR3", "RR4", "RR5", "RR6", "COOP1", "COOP2", "COOP3", "COOP4",
                                   "REF1", "REF2", "REF3", "CON1", "CON2", "CON3")},
    },
}
INTERVAL = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
EXPERIMENT = {
    "type": "object",
    "description": "A split-ballot experiment: per variant (a way of asking the headline, given to each link at "
                   "random, balanced within strata) its answers and their difference from the reference variant "
                   "with Newcombe's 95% interval; a suppressed variant shows neither",
    "required": ["reference", "variants", "note"],
    "properties": {
        "reference": {"type": "string"},
        "note": {"type": "string"},
        "multiplicity": {"type": "string", "description": "how the differences marked significant were chosen"},
        "variants": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "changes", "invited", "answered", "suppressed", "options", "differences"],
            "properties": {
                "name": {"type": "string"},
                "changes": {"type": "string", "description": "as defined, or wording, order, two steps"},
                "invited": {"type": "integer"},
                "answered": {"type": ["integer", "null"]},
                "suppressed": {"type": "boolean"},
                "options": {"type": ["array", "null"], "items": {
                    "type": "object", "required": ["code", "count", "share", "ci95"],
                    "properties": {"code": {"type": "string"}, "count": {"type": "integer"},
                                   "share": {"type": "number"}, "ci95": INTERVAL}}},
                "differences": {"type": ["array", "null"], "items": {
                    "type": "object", "required": ["code", "difference", "ci95"],
                    "properties": {"code": {"type": "string"}, "difference": {"type": "number"},
                                   "ci95": INTERVAL, "p": {"type": "number", "description": "two-sided, alone"},
                                   "significant": {"type": "boolean", "description": "at 5% after Holm's "
                                                   "adjustment over every difference of the experiment"}}}},
            },
        }},
    },
}
TARGET = {"type": "object", "required": ["what", "source"],
          "properties": {"what": {"type": "string"}, "source": {"type": "string"},
                         "shares": {"type": "object", "additionalProperties": {"type": "number"}}}}
WEIGHTING = {
    "type": "object",
    "description": "How the weighted estimate was made; absent when there is none. Public figures are raked on "
                   "governorate, sex and age band from the noisy counts; the operators' figures also on the profile "
                   "questions the poll's reference gives margins for",
    "properties": {
        "margins": {"type": "string", "enum": ["census", "simulated population"]},
        "respondents": {"type": "integer"},
        "converged": {"type": "boolean"},
        "design_effect": {"type": "number"},
        "effective_n": {"type": "number"},
        "targets": {"type": "object", "additionalProperties": TARGET,
                    "description": "per variable weighted on: what its targets are and their source"},
        "interval": {"type": "object", "required": ["method", "why"],
                     "properties": {"method": {"type": "string", "enum": ["linearised", "kish"]},
                                    "why": {"type": "string"}},
                     "description": "the weighted shares' 95% interval: Wilson's at the size the raked estimate's "
                                    "linearised variance implies, or at Kish's effective n"},
        "reference": {"type": ["object", "null"], "description": "the poll's weighting reference: kind (margins or "
                      "microdata), source, year, variables",
                      "properties": {"kind": {"type": "string", "enum": ["margins", "microdata"]},
                                     "source": {"type": "string"}, "year": {"type": ["integer", "null"]},
                                     "variables": {"type": "array", "items": {"type": "string"}}}},
        "not_weighted_on": {"type": "array", "items": {
            "type": "object", "required": ["variable", "why"],
            "properties": {"variable": {"type": "string"}, "why": {"type": "string"}}},
            "description": "profile questions with no sourced target: the estimate is not weighted on them"},
        "by_strata": {"type": ["object", "null"], "additionalProperties": {"type": "number"},
                      "description": "by option code, the estimate raked on governorate, sex and age band alone, "
                                     "where the reference changed it"},
        "propensity": {"type": ["object", "null"], "description": "beside raking: shares weighted by propensity "
                       "against the reference survey's microdata (logistic regression on the shared variables)",
                       "properties": {"variables": {"type": "array", "items": {"type": "string"}},
                                      "respondents": {"type": "integer"}, "converged": {"type": "boolean"},
                                      "effective_n": {"type": "number"}, "design_effect": {"type": "number"},
                                      "shares": {"type": "object", "additionalProperties": NUMBER_OR_NULL},
                                      "ci95": {"type": "object", "additionalProperties": {"type": "array"}}}},
    },
}
SELECTION_RANGE = {
    "type": ["object", "null"],
    "description": "beside the weighted estimate (absent without one): each answer's share were those who chose it "
                   "up to k times more or less likely to answer than the others of their governorate, sex and age "
                   "band, for each k in `ratios`, the weighted estimate's 95% margin included; derived from the "
                   "released figures alone",
    "required": ["ratios", "assumption", "options"],
    "properties": {
        "ratios": {"type": "array", "items": {"type": "number"}},
        "assumption": {"type": "string"},
        "options": {"type": "array", "items": {
            "type": "object", "required": ["code", "ranges"],
            "properties": {"code": {"type": "string"},
                           "ranges": {"type": "object", "additionalProperties": INTERVAL,
                                      "description": "[low, high] by k, written as in `ratios` (\"1.5\", \"2\")"}}}},
    },
}
SHARES = {"type": "object", "additionalProperties": {"type": "number"}, "description": "per option code"}
SHARE_INTERVALS = {"type": "object", "additionalProperties": INTERVAL, "description": "per option code"}
GOVERNORATE_ESTIMATES = {
    "type": "object",
    "description": "Model-based governorate estimates: multilevel regression and post-stratification (a random "
                   "intercept per governorate, sex, age band and region; post-stratified to the adult population), "
                   "with central credible intervals at `level`. Absent while the answers are withheld. Public: "
                   "fitted to the release's noisy counts only. Operators: fitted to shown groups, hidden ones "
                   "pooled",
    "required": ["method", "level", "error", "governorates"],
    "properties": {
        "method": {"type": "string"},
        "description": {"type": "string"},
        "level": {"type": "number", "description": "the credible intervals' level (0.9)"},
        "error": {"type": ["string", "null"], "description": "why there is no estimate (the fit did not converge)"},
        "from_noisy_margins": {"type": "boolean"},
        "fitted_answers": {"type": "integer", "description": "operators: the answers the kept fit saw (a fit "
                                                            "is made again once answers grow by 2%)"},
        "governorates": {"type": "array", "items": {
            "type": "object",
            "required": ["code", "answered", "raw_shares", "shares", "interval", "from_prior"],
            "properties": {
                "code": {"type": "string"},
                "answered": {"type": ["integer", "null"], "description": "null where its breakdown is hidden"},
                "raw_shares": {**SHARES, "type": ["object", "null"]},
                "shares": SHARES,
                "interval": SHARE_INTERVALS,
                "from_prior": {"type": "boolean", "description": "no answers of its own in the model: estimated "
                                                                "from similar governorates alone"},
            },
        }},
        "overall": {"type": ["object", "null"], "properties": {"shares": SHARES, "interval": SHARE_INTERVALS}},
    },
}
RESULTS = {
    "type": "object",
    "required": ["poll", "invited", "answered", "options", "questions", "withheld", "breakdowns", "published_at"],
    "properties": {
        "poll": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "invited": {"type": "integer"},
        "sent": {"type": "integer"},
        "delivered": {"type": "integer"},
        "opened": {"type": "integer"},
        "answered": {"type": "integer"},
        "withheld": {"type": "boolean"},
        "options": {"type": "array", "items": OPTION},
        "questions": {"type": "array", "items": QUESTION, "description": "every question in order, the headline "
                                                                         "among them"},
        "strata_sources": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                           "description": "per stratum: \"audience\" and/or \"question:<name>\""},
        "breakdowns": {"type": "object", "additionalProperties": {"type": "array", "items": CATEGORY}},
        # None until the first differentially private release is made (fewer than ten answers so far).
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "rates": RATES,
        "experiment": EXPERIMENT,
        "weighting": WEIGHTING,
        "selection_range": SELECTION_RANGE,
        "governorate_estimates": GOVERNORATE_ESTIMATES,
    },
}


def _problem(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}
    if headers:
        response["headers"] = headers
    return response


def document() -> dict:
    """The OpenAPI document served at /api/v1/openapi.json."""
    slug = {"name": "slug", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}}
    fmt = {"name": "format", "in": "path", "required": True, "schema": {"type": "string", "enum": ["csv", "json"]},
           "description": "csv, or json for JSON Lines (one object a line)"}
    unauthorised = _problem("No login and no valid API token", {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="poll"'}})
    not_found = _problem("No such poll, or an unknown format")
    files = {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }
    answer_files = files | {
        "application/x-spss-sav": {"schema": {"type": "string", "format": "binary"}},
        "application/x-stata-dta": {"schema": {"type": "string", "format": "binary"}},
    }
    answer_format = {**fmt, "schema": {"type": "string", "enum": ["csv", "json", "sav", "dta"]},
                     "description": "csv; json for JSON Lines; sav (SPSS) or dta (Stata), labelled in ?lang"}
    lang = {"name": "lang", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["ar", "ku", "en"]},
            "description": "the labels' language in sav and dta files (default: the poll's)"}
    csv_options = [{"name": "delimiter", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": [",", ";", "tab"], "default": ","},
                    "description": "what separates a CSV's fields"},
                   {"name": "bom", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]},
                    "description": "1: start a CSV with a UTF-8 byte order mark, so that Excel reads Arabic"}]
    operator = [{"bearer": []}, {"session": []}]

    def export(summary: str, *, admin: bool = False, refusals: dict | None = None, answers: bool = False) -> dict:
        responses = {"200": {"description": "The file, streamed", "content": answer_files if answers else files},
                     "401": unauthorised, "404": not_found, **(refusals or {})}
        if admin:
            responses["403"] = _problem("The operator is not an admin")
        parameters = [slug, answer_format, lang, *csv_options] if answers else [slug, fmt, *csv_options]
        responses["400"] = _problem("An unknown delimiter or bom")
        return {"get": {"summary": summary, "parameters": parameters, "security": operator,
                        "responses": responses}}

    def document_of(summary: str, formats: list[str], content: dict) -> dict:
        parameters = [slug, {**fmt, "schema": {"type": "string", "enum": formats}, "description": " or ".join(formats)},
                      lang, csv_options[0]]
        return {"get": {"summary": summary, "parameters": parameters, "security": operator, "responses": {
            "200": {"description": "The document", "content": content}, "400": _problem("An unknown delimiter"),
            "401": unauthorised, "404": not_found}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "poll API", "version": "1",
            "description": "Results of SMS polls. Aggregates are public snapshots; answer data needs an operator "
                           "(browser session or `poll operators token NAME`). Errors are problem documents "
                           "(RFC 9457).",
        },
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token from `poll operators token`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session", "description": "A browser's login"},
        }},
        "paths": {
            "/api/v1/polls/{slug}/results": {"get": {
                "summary": "A poll's public results: a snapshot, small groups suppressed",
                "parameters": [slug],
                "security": [],
                "responses": {
                    "200": {"description": "Results", "content": {"application/json": {"schema": RESULTS}}},
                    "404": _problem("No published poll with this slug (drafts are not public)"),
                },
            }},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {
                    "schema": {"type": "object"}}}}},
            }},
            "/api/v1/polls/{slug}/answers.{format}": export(
                "One row per response, a column per question and a weight; quasi-identifiers generalised "
                "(anonymous polls); in random order",
                refusals={"409": _problem("Too few answers to export without telling who answered what")},
                answers=True,
            ),
            "/api/v1/polls/{slug}/codebook.{format}": document_of(
                "What each column of the answers export means: names, full labels, codes, missing codes",
                ["html", "csv"], {"text/html": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}),
            "/api/v1/polls/{slug}/syntax.{format}": document_of(
                "SPSS (sps) or Stata (do) syntax that labels the answers CSV", ["sps", "do"],
                {"text/plain": {"schema": {"type": "string"}}}),
            "/api/v1/polls/{slug}/results.{format}": export("The results table, a row per answer option"),
            "/api/v1/polls/{slug}/links.{format}": export("Every link with its phone and state (admins)", admin=True),
        },
    }
