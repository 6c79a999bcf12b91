"""A synthetic population of adult Iraqi mobile subscribers, drawn from census shares.

Vectorised: a million people take a second or two. Names come from seeded
pools of Faker names, picked by a key each person draws, so a person keeps
their name in any sample of the population.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from faker import Faker

from poll import iraq

LANGUAGES = ("ar", "ku", "en")
# Judgement: most people in the Kurdistan Region read Kurdish first; a few
# elsewhere prefer English. Not a sourced figure.
KURDISH_IN_KRI = 0.85
KURDISH_ELSEWHERE = 0.03
ENGLISH = 0.01
OLDEST = 85
NAME_POOL = 400


@dataclass(frozen=True)
class Population:
    """N people as parallel arrays; index i is one person."""

    governorate: np.ndarray  # index into iraq.governorates()
    sex: np.ndarray  # 0 = M, 1 = F
    age: np.ndarray  # years
    age_band: np.ndarray  # index into iraq.AGE_BANDS
    is_urban: np.ndarray  # bool
    carrier: np.ndarray  # index into iraq.carriers()
    national_number: np.ndarray  # 10 digits, 7XXXXXXXXX
    language: np.ndarray  # index into LANGUAGES
    name_key: np.ndarray  # picks the person's name from the pools of `name_seed`
    name_seed: int
    education: np.ndarray  # index into scenario.EDUCATION: highest level completed

    def __len__(self) -> int:
        return len(self.governorate)

    def take(self, indices: np.ndarray) -> Population:
        """The people at `indices`, in that order (names stay with their people)."""
        return Population(
            governorate=self.governorate[indices],
            sex=self.sex[indices],
            age=self.age[indices],
            age_band=self.age_band[indices],
            is_urban=self.is_urban[indices],
            carrier=self.carrier[indices],
            national_number=self.national_number[indices],
            language=self.language[indices],
            name_key=self.name_key[indices],
            name_seed=self.name_seed,
            education=self.education[indices],
        )

    def phones(self) -> list[str]:
        """E.164 numbers, e.g. "+9647801234567"."""
        return ["+964" + str(number) for number in self.national_number.tolist()]

    def governorate_codes(self) -> np.ndarray:
        """ISO 3166-2:IQ code of each person."""
        return np.array([gov.code for gov in iraq.governorates()])[self.governorate]

    def sex_codes(self) -> np.ndarray:
        """"M" or "F" for each person."""
        return np.array(["M", "F"])[self.sex]

    def age_band_labels(self) -> np.ndarray:
        """"18-29", "30-44", "45-59" or "60+" for each person."""
        return np.array(iraq.AGE_BANDS)[self.age_band]

    def language_codes(self) -> np.ndarray:
        """"ar", "ku" or "en" for each person."""
        return np.array(LANGUAGES)[self.language]

    def names(self) -> np.ndarray:
        """A name for each person, in the script of their language: Arabic script for Arabic and Kurdish readers
        (Faker has no Kurdish locale; many given names are shared), Latin for the few who prefer English."""
        out = np.empty(len(self), dtype=object)
        for language, locale in enumerate(NAME_LOCALES):
            firsts, lasts = _name_pools(locale, self.name_seed)
            for sex in (0, 1):
                mine = (self.language == language) & (self.sex == sex)
                keys = self.name_key[mine]
                pool = firsts[sex]
                out[mine] = np.char.add(np.char.add(pool[keys % NAME_POOL], " "), lasts[(keys // NAME_POOL) % NAME_POOL])
        return out


# Faker's locale for the names of each language's readers (index as in LANGUAGES).
NAME_LOCALES = ("ar_AA", "ar_AA", "en_GB")


@functools.cache
def _name_pools(locale: str, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    # (male first names, female first names), last names: NAME_POOL each, seeded.
    fake = Faker(locale)
    fake.seed_instance(seed)
    male = np.array([fake.first_name_male() for _ in range(NAME_POOL)])
    female = np.array([fake.first_name_female() for _ in range(NAME_POOL)])
    return (male, female), np.array([fake.last_name() for _ in range(NAME_POOL)])


def generate(size: int, rng: np.random.Generator, education: Sequence[float]) -> Population:
    """Draw `size` adult subscribers: governorate, sex, age, urban, carrier, number, language, and education
    with the shares `education` (the scenario's, in the order of scenario.EDUCATION)."""
    if size < 0:
        raise ValueError("a population cannot have a negative size")
    governorates = iraq.governorates()
    population = np.array([gov.population for gov in governorates], dtype=float)
    governorate = rng.choice(len(governorates), size=size, p=population / population.sum()).astype(np.int8)

    bands = iraq.age_band_shares()
    age_band = rng.choice(len(iraq.AGE_BANDS), size=size, p=list(bands.values())).astype(np.int8)
    male_share = np.array([iraq.male_share_by_age_band()[band] for band in iraq.AGE_BANDS])
    sex = (rng.random(size) >= male_share[age_band]).astype(np.int8)
    lows = np.array([18, 30, 45, 60])
    highs = np.array([29, 44, 59, OLDEST])
    age = rng.integers(lows[age_band], highs[age_band] + 1).astype(np.int16)

    urban_share = np.array([gov.urban / 100 for gov in governorates])
    is_urban = rng.random(size) < urban_share[governorate]

    carriers = iraq.carriers()
    carrier = rng.choice(len(carriers), size=size, p=[op.share for op in carriers]).astype(np.int8)
    national_number = _numbers(carrier, rng)

    in_kri = np.array([gov.region == "kri" for gov in governorates])[governorate]
    draw = rng.random(size)
    kurdish = np.where(in_kri, KURDISH_IN_KRI, KURDISH_ELSEWHERE)
    language = np.where(draw < kurdish, 1, np.where(draw < kurdish + ENGLISH, 2, 0)).astype(np.int8)

    name_key = rng.integers(0, NAME_POOL * NAME_POOL, size=size, dtype=np.int64)
    name_seed = int(rng.integers(2**31))
    # Drawn last, so that what a seed gave before education existed stays as it was.
    levels = np.asarray(education, dtype=float)
    schooling = rng.choice(len(levels), size=size, p=levels / levels.sum()).astype(np.int8)
    return Population(
        governorate=governorate,
        sex=sex,
        age=age,
        age_band=age_band,
        is_urban=is_urban,
        carrier=carrier,
        national_number=national_number,
        language=language,
        name_key=name_key,
        name_seed=name_seed,
        education=schooling,
    )


def _numbers(carrier: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # 7PXXXXXXXX: P from the carrier's prefixes, then 8 random digits; numbers
    # drawn twice are drawn again until all are distinct.
    prefixes = [[int(p) for p in op.prefixes] for op in iraq.carriers()]
    size = len(carrier)
    numbers = np.empty(size, dtype=np.int64)
    todo = np.arange(size)
    while len(todo):
        choice = rng.random(len(todo))
        prefix = np.empty(len(todo), dtype=np.int64)
        for index, options in enumerate(prefixes):
            mine = carrier[todo] == index
            prefix[mine] = np.array(options)[(choice[mine] * len(options)).astype(int)]
        numbers[todo] = prefix * 100_000_000 + rng.integers(0, 100_000_000, size=len(todo))
        _, first = np.unique(numbers, return_index=True)
        repeated = np.ones(size, dtype=bool)
        repeated[first] = False
        todo = np.flatnonzero(repeated)
    return numbers
