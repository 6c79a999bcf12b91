"""Iraq's governorates, strata, census margins and mobile carriers, read from data/iraq.toml."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Governorate:
    code: str
    en: str
    ar: str
    ku: str
    population: int
    urban: float
    region: str

    def name(self, language: str) -> str:
        """The governorate's name in `language` ("ar", "ku" or "en")."""
        return getattr(self, language, self.en)


@dataclass(frozen=True, slots=True)
class Carrier:
    """A mobile network (Zain, Asiacell, Korek...): not to be confused with the people who log in (`models.Operator`)."""

    name: str
    prefixes: tuple[str, ...]
    share: float


@cache
def _data() -> dict:
    return tomllib.loads(resources.files("poll.data").joinpath("iraq.toml").read_text("utf-8"))


@cache
def governorates() -> tuple[Governorate, ...]:
    """The 18 governorates, most populous first."""
    return tuple(Governorate(**row) for row in _data()["governorate"])


@cache
def carriers() -> tuple[Carrier, ...]:
    """Mobile operators with their number prefixes and market shares."""
    return tuple(
        Carrier(row["name"], tuple(row["prefixes"]), row["share"]) for row in _data()["carrier"]
    )


@cache
def age_band_shares() -> dict[str, float]:
    """Adult population share of each age band, summing to 1."""
    bands = _data()["age_bands"]
    total = sum(bands.values())
    return {band: value / total for band, value in bands.items()}


@cache
def male_share_by_age_band() -> dict[str, float]:
    """Share of men within each adult age band."""
    return dict(_data()["male_share_by_age_band"])


AGE_BANDS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
ADULT_AGE = 18
OLDEST_AGE = 120


def age_band(age: int) -> str:
    """The adult age band of `age` in years; raises ValueError under 18 or over 120."""
    if not ADULT_AGE <= age <= OLDEST_AGE:
        raise ValueError(f"age {age} is outside {ADULT_AGE}-{OLDEST_AGE}")
    if age < 30:
        return "18-29"
    if age < 45:
        return "30-44"
    if age < 60:
        return "45-59"
    return "60+"


# The strata a respondent is described by: for breakdowns, weighting and the simulator.
STRATA: tuple[str, ...] = ("governorate", "sex", "age_band")
SEXES: tuple[str, ...] = ("M", "F")


def categories(stratum: str) -> list[str]:
    """The codes of a stratum's categories, in a fixed order: governorate codes, "M"/"F", age bands."""
    if stratum == "governorate":
        return [gov.code for gov in governorates()]
    if stratum == "sex":
        return list(SEXES)
    if stratum == "age_band":
        return list(AGE_BANDS)
    raise ValueError(f"unknown stratum {stratum!r}")


def census_margins() -> dict[str, dict[str, float]]:
    """Population shares of each category of each stratum, from the figures in data/iraq.toml.

    Not all adults' shares: the governorates' are of the whole population (see
    `margin_sources`, which says exactly what each is and its source).
    """
    total = sum(gov.population for gov in governorates())
    bands = age_band_shares()
    male_share = male_share_by_age_band()
    male = sum(bands[band] * male_share[band] for band in AGE_BANDS)
    return {
        "governorate": {gov.code: gov.population / total for gov in governorates()},
        "sex": {"M": male, "F": 1 - male},
        "age_band": dict(bands),
    }


def sex_by_age_band() -> dict[tuple[str, str], float]:
    """Adult population shares of each (sex, age band) cell: the joint table behind the two margins."""
    bands, male = age_band_shares(), male_share_by_age_band()
    return {(sex, band): bands[band] * (male[band] if sex == "M" else 1 - male[band])
            for sex in SEXES for band in AGE_BANDS}


def margin_sources() -> dict[str, dict[str, str]]:
    """Per stratum, what `census_margins` gives exactly ("what") and where it comes from ("source")."""
    return {stratum: dict(_data()["margins"][stratum]) for stratum in STRATA}


def regions() -> dict[str, str]:
    """The regions governorates are merged into when weighting cannot use each one: code -> description."""
    return dict(_data()["regions"])


# Age bands merged when weighting cannot use each one: the two oldest together.
AGE_BANDS_MERGED: tuple[int, ...] = (0, 1, 2, 2)


@cache
def weighting_merges() -> tuple[tuple[str, dict[int, tuple[int, ...]]], ...]:
    """How far weighting on STRATA may merge categories, tried in order until it works.

    Each is (what it does, {margin's index in STRATA: each category's group}):
    nothing merged; governorates merged into regions; and with them the two
    oldest age bands together.
    """
    region_codes = list(regions())
    by_region = tuple(region_codes.index(governorate.region) for governorate in governorates())
    governorate, age = STRATA.index("governorate"), STRATA.index("age_band")
    return (
        ("", {}),
        ("governorates merged into regions", {governorate: by_region}),
        ("governorates merged into regions, 45-59 and 60+ together", {governorate: by_region, age: AGE_BANDS_MERGED}),
    )


def normalize_age_band(text: str) -> str | None:
    """The canonical band for spellings like "18-29", "18–29", "60+", "60 +"; None if unknown."""
    cleaned = "".join(text.split()).replace("\u2013", "-").replace("\u2014", "-")
    return cleaned if cleaned in AGE_BANDS else None


def _key(text: str) -> str:
    # Fold case, spacing, hyphens, the Arabic article and letter variants so that
    # "Salah ad-Din", "salah al din" and "صلاح الدين" find the same row.
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    for old, new in (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ى", "ي"), ("ة", "ه")):
        text = text.replace(old, new)
    text = "".join(ch for ch in text if ch.isalnum())
    if text.startswith("ال"):
        text = text[2:]
    return text.replace("ad", "al") if text.startswith("salah") else text


@cache
def _lookup() -> dict[str, Governorate]:
    table: dict[str, Governorate] = {}
    aliases = {"IQ-SU": ("Sulaimaniyah", "Sulaymaniya", "Halabja", "حلبجة"), "IQ-AR": ("Arbil", "Hawler"),
               "IQ-DA": ("Dohuk", "Dahuk"), "IQ-NI": ("Ninawa", "Mosul"), "IQ-QA": ("Diwaniyah", "Al-Qadisiyah"),
               "IQ-BB": ("Babylon",), "IQ-DQ": ("Thi Qar",), "IQ-SD": ("Salahuddin", "Saladin")}
    for gov in governorates():
        for name in (gov.code, gov.code.removeprefix("IQ-"), gov.en, gov.ar, gov.ku, *aliases.get(gov.code, ())):
            table[_key(name)] = gov
    return table


def find_governorate(text: str) -> Governorate | None:
    """The governorate named by an ISO 3166-2:IQ code, an English, Arabic or Kurdish name."""
    return _lookup().get(_key(text))
