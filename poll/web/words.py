"""Names of stored values (poll states, refusal kinds, weighting margins) in the page's language."""

from flask_babel import lazy_gettext as _l

from poll.services.access.audit import mask_phones
from poll.services.releases import release
from poll.text import reveal_controls
from poll.vocabulary import JobState, MessageState, Outcome, PollStatus

STATUS = {PollStatus.DRAFT: _l("draft"), PollStatus.OPEN: _l("open"), PollStatus.CLOSED: _l("closed")}
REFUSAL = {
    Outcome.UNKNOWN_LINK: _l("unknown link"),
    Outcome.ALREADY_ANSWERED: _l("link already used"),
    Outcome.NOT_OPEN: _l("poll not open yet"),
    Outcome.CLOSED: _l("poll closed"),
    Outcome.INVALID_OPTION: _l("no valid answer chosen"),
    Outcome.RATE_LIMITED: _l("too many attempts, turned away"),
}
MESSAGE_STATE = {
    MessageState.QUEUED: _l("queued"),
    MessageState.SENDING: _l("sending"),
    MessageState.SENT: _l("sent"),
    MessageState.DELIVERED: _l("delivered"),
    MessageState.FAILED: _l("failed"),
    MessageState.CANCELLED: _l("cancelled"),
}
AUDIT_ACTION = {
    "audience-imported": _l("audience imported"),
    "export": _l("export"),
    "link-opened-by-operator": _l("personal link opened by an operator"),
    "link-used-by-operator": _l("personal link used by an operator"),
    "links-issued": _l("personal links issued"),
    "links-printed": _l("personal links printed"),
    "login": _l("logged in"),
    "login-failed": _l("failed login"),
    "logout": _l("logged out"),
    "messages-queued": _l("SMS queued"),
    "messages-retried": _l("failed SMS queued again"),
    "operator-created": _l("operator created"),
    "operator-deleted": _l("operator deleted"),
    "operator-disabled": _l("operator disabled"),
    "operator-enabled": _l("operator enabled"),
    "password-reset": _l("password reset"),
    "phone-viewed": _l("simulated phone viewed"),
    "poll-closed": _l("poll closed"),
    "poll-created": _l("poll created"),
    "poll-opened": _l("poll opened"),
    "reminders-queued": _l("reminders queued"),
    "simulation-reset": _l("simulation reset"),
    "token-issued": _l("API token issued"),
    "tokens-revoked": _l("API tokens revoked"),
    "job-started": _l("background job started"),
    "job-cancelled": _l("background job cancelled"),
    "sms-rehearsed": _l("SMS sent from a simulated phone"),
    "contacts-purged": _l("phone numbers purged"),
    "audit-exported": _l("audit trail exported"),
}
CHANNEL = {"web": _l("web"), "sms": _l("SMS")}
NOTES = {
    release.NOTE_WITHHELD: _l("Answer shares are shown from 10 answers that do not all choose the same answer: "
                              "fewer would tell who answered what."),
    release.NOTE_NO_POPULATION: _l("No weighted estimate: some answers are in a category where the margins have no "
                                   "people."),
    release.NOTE_NO_WEIGHTING: _l("No weighted estimate: even with governorates merged into regions and the two "
                                  "oldest age bands together, some category has no answers."),
    release.NOTE_NOT_CONVERGED: _l("Weighting did not converge: no weighted figures are shown."),
    release.NOTE_TOO_FEW_TO_WEIGHT: _l("No weighted estimate: it needs at least 100 answers of known strata, an "
                                       "effective sample of 50, and no one answer carrying more than 5% of the "
                                       "weight."),
    release.NOTE_NOT_RELEASED: _l("No figures of the answers are public yet: they are released, with noise that "
                                  "protects each answer, once at least ten have answered."),
    release.NOTE_TOO_NOISY: _l("Too few answers for the public figures: with the noise that protects each answer "
                               "they would say nothing reliable yet."),
    release.NOTE_REFERENCE_FAILED: _l("No estimate weighted on the reference's profile questions: some category with "
                                      "a target has no answers. The weighted estimate is raked on governorate, sex "
                                      "and age band only."),
}
# How weighting merged categories (services.releases.results Weighting.merged, iraq.weighting_merges), as readers are told.
MERGED = {
    "governorates merged into regions": _l("Some category had no answers, so governorates were merged into regions."),
    "governorates merged into regions, 45-59 and 60+ together": _l(
        "Some category had no answers, so governorates were merged into regions, and the age bands 45-59 and 60+ "
        "into one."),
}
SEX = {"M": _l("men"), "F": _l("women")}
# The weighted shares' interval (services.releases.results WEIGHTED_INTERVALS), and why it is the one used.
WEIGHTED_INTERVAL = {
    "linearised": _l("Wilson score interval at the sample size that the linearised variance of the raked estimate "
                     "implies (the residuals of each answer on the weighting variables' categories, weighted). Raking "
                     "on what predicts the answers makes the estimate more precise, and this interval counts it: in "
                     "the Monte Carlo its standard error matches the spread of the estimates, where Kish's effective "
                     "sample size makes it about 15% too large. Neither covers a bias that the weighting variables "
                     "cannot see."),
    "kish": _l("Wilson score interval at Kish's effective sample size: it treats the weights as unrelated to the "
               "answers."),
}
STRATUM = {"governorate": _l("governorate"), "sex": _l("sex"), "age_band": _l("age band")}
DISPOSITION = {
    "complete": _l("complete"),
    "partial": _l("partial (headline only)"),
    "refusal": _l("refusal or break-off"),
    "non_contact": _l("delivered, never opened"),
    "other": _l("other"),
    "unknown": _l("sent, fate unknown (no report, or a failure that does not say the number is out of service)"),
    "not_eligible": _l("not eligible (the network reported the number unknown or not allocated)"),
    "not_sent": _l("no invitation sent (never sent by SMS: the gateway gave up, or the link was handed out)"),
}
RATE = {
    "RR1": _l("RR1: completes of every link issued"),
    "RR2": _l("RR2: completes and partials of every link issued"),
    "RR3": _l("RR3: RR1 with e of the links of unknown eligibility counted"),
    "RR4": _l("RR4: RR2 with e of the links of unknown eligibility counted"),
    "RR5": _l("RR5: completes of the links known eligible"),
    "RR6": _l("RR6: completes and partials of the links known eligible"),
    "COOP1": _l("Cooperation rate (COOP1)"),
    "REF1": _l("Refusal rate (REF1)"),
    "CON1": _l("Contact rate (CON1)"),
}
# What RR1-RR6 may be called (stats.aapor): response rates only of a probability sample of a defined frame.
RATE_NAME = {
    "response rate": _l("Response rates: the links went to a random sample of a defined list."),
    "participation rate": _l("Participation rates: the list of numbers is not a probability sample of a defined "
                             "population, so AAPOR does not call these response rates."),
}
MARGINS = {"simulated population": _l("simulated population's"), "census": _l("census")}


QUESTION_TYPE = {
    "select_one": _l("one answer from a list"), "select_multiple": _l("one or more answers from a list"),
    "integer": _l("a whole number"), "governorate": _l("a governorate from the list"), "text": _l("a written answer"),
}
SIMULATION_MODE = {"in-process": _l("simulated inside the server"), "live": _l("simulated over the web, as phones would")}
VARIANT_CHANGE = {"as defined": _l("as first written"), "wording": _l("other wording"),
                  "order": _l("answers in another order"), "two steps": _l("asked in two steps")}


def way(number: int, changes: str | None = None) -> str:
    """A split-ballot variant as readers are told of it: "Way 2 (answers in another order)"; its id
    ("reversed") is a name for files and operators' scripts, in no reader's language."""
    name = str(_l("Way %(number)s", number=number))
    if not changes:
        return name
    return f"{name} ({', '.join(word(VARIANT_CHANGE, part) for part in changes.split(', '))})"


def word(table: dict, key: str) -> str:
    """The translated name of `key`, or `key` itself when it has none."""
    return str(table.get(key, key))


def visible(text: object) -> str:
    """`text` with invisible format characters (bidi overrides, zero-width joiners) shown as <U+XXXX>.

    A right-to-left override in an operator name or a poll slug can make an
    audit entry read as something else; spelled out, it cannot hide.
    """
    return reveal_controls(str(text))
JOB_STATE = {
    JobState.QUEUED: _l("waiting for a worker"),
    JobState.RUNNING: _l("running"),
    JobState.DONE: _l("done"),
    JobState.FAILED: _l("failed"),
    JobState.CANCELLED: _l("cancelled"),
}
# The steps a simulation job reports, in the words of the page.
JOB_STEP = {
    "drawing the population": _l("drawing the population"),
    "writing recipients": _l("writing recipients"),
    "issuing links": _l("issuing links"),
    "delivering messages": _l("delivering messages"),
    "recording answers": _l("recording answers"),
    "refusing duplicates and guesses": _l("refusing duplicates and guesses"),
    "replications": _l("Monte Carlo replications"),
    "phones answering": _l("simulated phones answering"),
}


MESSAGE_KIND = {"invitation": _l("Invitations"), "reminder": _l("Reminders")}
CHANNEL = {"web": _l("web form"), "sms": _l("SMS reply")}
# The names of an audit event's details (services.access.audit.record's `detail`), as the audit trail shows them.
AUDIT_DETAIL = {
    "via": _l("through"),
    "role": _l("role"),
    "warnings": _l("warnings"),
    "issued": _l("links issued"),
    "queued": _l("SMS queued"),
    "messages": _l("messages"),
    "what": _l("what"),
    "format": _l("format"),
    "sessions_ended": _l("sessions ended"),
    "revoked": _l("tokens revoked"),
    "links": _l("links"),
    "job": _l("job"),
    "poll": _l("poll"),
    "scenario": _l("scenario"),
    "population": _l("population"),
    "sample": _l("sample"),
    "seed": _l("seed"),
    "replications": _l("replications"),
    "mode": _l("mode"),
    "recipients": _l("recipients"),
    "answers": _l("answers"),
    "operator": _l("operator"),
    "action": _l("action"),
    "rows": _l("rows"),
}
AUDIT_VIA = {"cli": _l("the command line")}


def audit_details(detail: dict) -> list[tuple[str, str]]:
    """An audit event's details as (name, value) pairs a person reads, phone numbers masked; not raw JSON."""
    def text(value: object) -> str:
        if isinstance(value, bool):
            return str(_l("yes") if value else _l("no"))
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, dict):
            return ", ".join(f"{word(AUDIT_DETAIL, str(k))}: {text(v)}" for k, v in sorted(value.items()))
        if isinstance(value, list | tuple):
            return ", ".join(text(v) for v in value)
        return mask_phones(str(value))

    return [(word(AUDIT_DETAIL, key).replace("_", " "),
             str(AUDIT_VIA.get(value, value)) if key == "via" else text(value))
            for key, value in sorted(detail.items())]
