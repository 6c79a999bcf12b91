"""Scenarios: how a simulated population thinks and behaves, read from validated TOML.

A scenario file may start from another (`base = "baseline"`) and change only
some values. Every key is checked: an unknown key or a value out of range is
an error that names the key, e.g. "response.open must be between 0 and 1".
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from poll import iraq
from poll.errors import Invalid

REGIONS = ("kri", "sunni", "mixed", "south")
SEXES = ("M", "F")
URBAN = ("urban", "rural")
CARRIERS = tuple(op.name for op in iraq.carriers())
OPTIONS = ("1", "2", "3")
# Highest education completed, as the built-in questionnaire's `education` question codes it:
# no schooling, primary, intermediate or secondary, diploma or bachelor's, postgraduate.
EDUCATION = ("1", "2", "3", "4", "5")

# The shape of a scenario: for each key, either a nested schema or
# (kind, low, high) where kind is "prob", "number", "int", "text", or a tuple
# of allowed keys for a table of numbers in [low, high].
Rule = tuple
SCHEMA: dict[str, Any] = {
    "name": ("text",),
    "description": ("text",),
    "base": ("text",),
    "opinion": {
        "support": (REGIONS, 0.0, 1.0),
        "by_all_means": ("prob",),
        "support_shift_sex": (SEXES, -5.0, 5.0),
        "support_shift_age": (iraq.AGE_BANDS, -5.0, 5.0),
        "support_shift_urban": (URBAN, -5.0, 5.0),
        "support_by_governorate": (tuple(gov.code for gov in iraq.governorates()), 0.0, 1.0),
        "support_shift_education": (EDUCATION, -5.0, 5.0),
    },
    "population": {
        "education": (EDUCATION, 0.0, 1.0),
    },
    "delivery": {
        "failure": (CARRIERS, 0.0, 1.0),
        "sent_over_minutes": ("number", 0.0, 7 * 24 * 60),
    },
    "response": {
        "open": ("prob",),
        "answer": ("prob",),
        "open_by_age": (iraq.AGE_BANDS, 0.0, 20.0),
        "open_by_sex": (SEXES, 0.0, 20.0),
        "open_by_urban": (URBAN, 0.0, 20.0),
        "open_by_region": (REGIONS, 0.0, 20.0),
        "answer_by_option": (OPTIONS, 0.0, 20.0),
        "open_by_education": (EDUCATION, 0.0, 20.0),
        "open_young_by_region": (REGIONS, 0.0, 20.0),
    },
    "timing": {
        "fast_share": ("prob",),
        "fast_median_minutes": ("number", 0.1, 24 * 60),
        "slow_median_hours": ("number", 0.01, 30 * 24),
        "slow_sigma": ("number", 0.05, 5.0),
        "cutoff_hours": ("number", 0.1, 30 * 24),
    },
    "forwarding": {
        "share": ("prob",),
        "answer": ("prob",),
        "like_minded": ("prob",),
    },
    "repeats": {
        "share": ("prob",),
        "max_extra": ("int", 1, 100),
    },
    "bots": {
        "guesses": ("int", 0, 10_000_000),
    },
    "stuffing": {
        "campaigners": ("int", 0, 10_000_000),
        "attempts_each": ("int", 0, 10_000),
        "option": ("text",),
    },
    "experiment": {
        "primacy": ("prob",),
        "shift_variant": ("text",),
        "shift_option": ("text",),
        "shift": ("prob",),
    },
    "questionnaire": {
        "prefer_not": ("prob",),
        "age_heaping": ("prob",),
        "other_governorate": ("prob",),
        "break_off": ("prob",),
    },
}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: `values` mirrors the TOML tables, every key present."""

    name: str
    description: str
    values: Mapping[str, Any]

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]


def education_shares(scenario: Scenario) -> list[float]:
    """The scenario's adult shares by education level, in the order of EDUCATION."""
    return [scenario["population"]["education"][level] for level in EDUCATION]


def shipped() -> list[str]:
    """Names of the scenarios that ship with the package."""
    folder = resources.files("poll.data").joinpath("scenarios")
    return sorted(item.name.removesuffix(".toml") for item in folder.iterdir() if item.name.endswith(".toml"))


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path; raises Invalid with the reason."""
    raw = _read(name_or_path)
    merged = _with_base(raw, seen={name_or_path})
    _check(merged, SCHEMA, prefix="")
    _check_complete(merged, SCHEMA, prefix="")
    if merged["stuffing"]["option"] not in OPTIONS:
        raise Invalid(f"stuffing.option must be one of {', '.join(OPTIONS)}")
    if merged["experiment"]["shift_option"] not in OPTIONS:
        raise Invalid(f"experiment.shift_option must be one of {', '.join(OPTIONS)}")
    education = merged["population"]["education"]
    if set(education) != set(EDUCATION) or abs(sum(education.values()) - 1) > 1e-6:
        raise Invalid(f"population.education needs a share for each of {', '.join(EDUCATION)}, summing to 1")
    name = merged.get("name") or Path(name_or_path).stem
    return Scenario(name=name, description=merged.get("description", ""), values=merged)


def _read(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Invalid(f"cannot read scenario file {name_or_path}: {exc}") from None
    else:
        if name_or_path not in shipped():
            raise Invalid(f"unknown scenario {name_or_path!r}: use one of {', '.join(shipped())} or a .toml file")
        text = resources.files("poll.data").joinpath("scenarios", f"{name_or_path}.toml").read_text("utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"scenario {name_or_path} is not valid TOML: {exc}") from None


def _with_base(raw: dict[str, Any], seen: set[str]) -> dict[str, Any]:
    base_name = raw.get("base")
    if base_name is None:
        return raw
    if base_name in seen:
        raise Invalid(f"scenario base {base_name!r} refers back to itself")
    base = _with_base(_read(base_name), seen | {base_name})
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    merged.pop("base", None)
    return merged


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check(values: dict[str, Any], schema: dict[str, Any], prefix: str) -> None:
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in schema:
            raise Invalid(f"unknown key {where!r} in scenario")
        rule = schema[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise Invalid(f"{where} must be a table")
            _check(value, rule, prefix=f"{where}.")
        else:
            _check_value(where, value, rule)


def _check_value(where: str, value: Any, rule: Rule) -> None:
    kind = rule[0]
    if kind == "text":
        if not isinstance(value, str):
            raise Invalid(f"{where} must be a text")
        return
    if isinstance(kind, tuple):
        if not isinstance(value, dict):
            raise Invalid(f"{where} must be a table with keys {', '.join(kind)}")
        for key, item in value.items():
            if key not in kind:
                raise Invalid(f"unknown key {where}.{key!r} in scenario (allowed: {', '.join(kind)})")
            _check_number(f"{where}.{key}", item, rule[1], rule[2], integer=False)
        return
    low, high = (0.0, 1.0) if kind == "prob" else rule[1:]
    _check_number(where, value, low, high, integer=kind == "int")


def _check_number(where: str, value: Any, low: float, high: float, *, integer: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise Invalid(f"{where} must be {'a whole number' if integer else 'a number'}")
    if not low <= value <= high:
        raise Invalid(f"{where} must be between {low:g} and {high:g}, not {value:g}")


def _check_complete(values: dict[str, Any], schema: dict[str, Any], prefix: str) -> None:
    for key, rule in schema.items():
        if key in ("name", "description", "base"):
            continue
        if key not in values:
            raise Invalid(f"scenario has no {prefix}{key}: start from a shipped one with base = \"baseline\"")
        if isinstance(rule, dict):
            _check_complete(values[key], rule, prefix=f"{prefix}{key}.")


@dataclass(frozen=True)
class Parameter:
    """One value of a scenario, with what its file says of it: a source, or that it is an assumption."""

    key: str  # "response.open"
    value: Any
    note: str
    is_own: bool  # set by this scenario, not taken from its base


def parameters(name: str) -> list[Parameter]:
    """Every value of the shipped scenario `name` in schema order, each with the comment its file gives it.

    The files say where each figure comes from in a comment above it (a
    study, "assumption", "judgement"); a scenario built on another takes the
    base's comment for what it does not change. Raises Invalid for an
    unknown name.
    """
    chosen = load(name)
    notes: dict[str, str] = {}
    own: dict[str, str] = {}
    current, chain = name, []
    while current is not None:
        if current not in shipped():
            raise Invalid(f"unknown scenario {current!r}: use one of {', '.join(shipped())}")
        text = resources.files("poll.data").joinpath("scenarios", f"{current}.toml").read_text("utf-8")
        chain.append(text)
        current = tomllib.loads(text).get("base")
    for depth, text in enumerate(reversed(chain)):
        found = _comments(text)
        notes |= found
        if depth == len(chain) - 1:
            own = found
    out = []
    for section, rules in SCHEMA.items():
        if not isinstance(rules, dict):
            continue
        for key in rules:
            where = f"{section}.{key}"
            out.append(Parameter(where, chosen[section][key], notes.get(where, ""), where in own))
    return out


def _comments(text: str) -> dict[str, str]:
    """Each `table.key` of a scenario file and the comment block above it (kept for the keys right after it)."""
    notes: dict[str, str] = {}
    table, block, note, in_string = "", [], "", False
    for line in text.splitlines():
        stripped = line.strip()
        if in_string:
            in_string = '"""' not in stripped
            continue
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            note = ""  # a blank line ends the run of keys a comment speaks for
            continue
        if stripped.startswith("["):
            table = stripped.strip("[]").strip()
            continue
        key, _, value = stripped.partition("=")
        if block:
            note, block = " ".join(block), []
        if table and note:
            notes[f"{table}.{key.strip()}"] = note
        in_string = value.strip().startswith('"""') and value.count('"""') == 1
    return notes
