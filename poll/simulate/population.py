"""A synthetic population of adult Iraqi mobile subscribers, drawn from census shares.

Vectorised: a million people take a second or two. Names come from seeded
pools of Faker names, picked by a key each person draws, so a person keeps
their name in any sample of the population.

Compact, so that a population of Iraq's size (46 million) fits in a few
GB: a person is 21 bytes of small integers (`BYTES_PER_PERSON`), with no
Python object of their own; names
and phone strings are made only for the people written or shown (`take`
first). Populations larger than `CHUNK` are drawn a chunk at a time, so the
drawing's temporary arrays stay the size of one chunk.
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
# Drawn in chunks of this many people: a population this size or smaller is drawn exactly as it always was,
# so a seed gives the same people it gave before populations were chunked.
CHUNK = 1_000_000


@dataclass(frozen=True)
class Population:
    """N people as parallel arrays; index i is one person."""

    governorate: np.ndarray  # index into iraq.governorates()
    sex: np.ndarray  # 0 = M, 1 = F
    age: np.ndarray  # years (int16)
    age_band: np.ndarray  # index into iraq.AGE_BANDS
    is_urban: np.ndarray  # bool
    carrier: np.ndarray  # index into iraq.carriers()
    national_number: np.ndarray  # 10 digits, 7XXXXXXXXX (int64)
    language: np.ndarray  # index into LANGUAGES
    name_key: np.ndarray  # picks the person's name from the pools of `name_seed` (uint32)
    name_seed: int
    education: np.ndarray  # index into scenario.EDUCATION: highest level completed

    def __len__(self) -> int:
        return len(self.governorate)

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold."""
        return sum(getattr(self, name).nbytes for name in PER_PERSON)

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


# The arrays that hold one value per person, and their types.
PER_PERSON = {"governorate": np.int8, "sex": np.int8, "age": np.int16, "age_band": np.int8, "is_urban": np.bool_,
              "carrier": np.int8, "national_number": np.int64, "language": np.int8, "name_key": np.uint32,
              "education": np.int8}
BYTES_PER_PERSON = sum(np.dtype(kind).itemsize for kind in PER_PERSON.values())


def generate(size: int, rng: np.random.Generator, education: Sequence[float]) -> Population:
    """Draw `size` adult subscribers: governorate, sex, age, urban, carrier, number, language, and education
    with the shares `education` (the scenario's, in the order of scenario.EDUCATION).

    Up to CHUNK people are drawn at once; a larger population is drawn a
    CHUNK at a time into arrays made once (BYTES_PER_PERSON each), its
    names from the first chunk's pools, and numbers that two chunks drew
    alike drawn again for the later person.
    """
    if size < 0:
        raise ValueError("a population cannot have a negative size")
    if size <= CHUNK:
        return _draw(size, rng, education)
    people = {name: np.empty(size, dtype=kind) for name, kind in PER_PERSON.items()}
    name_seed = None
    for start in range(0, size, CHUNK):
        chunk = _draw(min(CHUNK, size - start), rng, education)
        for name in PER_PERSON:
            people[name][start : start + len(chunk)] = getattr(chunk, name)
        name_seed = chunk.name_seed if name_seed is None else name_seed
        del chunk
    _redraw_repeats(people["national_number"], people["carrier"], rng)
    return Population(**people, name_seed=name_seed)


def _draw(size: int, rng: np.random.Generator, education: Sequence[float]) -> Population:
    # One chunk, drawn as whole populations were drawn before chunks: the same seed, the same people.
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

    name_key = rng.integers(0, NAME_POOL * NAME_POOL, size=size, dtype=np.int64).astype(np.uint32)
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


def _redraw_repeats(numbers: np.ndarray, carrier: np.ndarray, rng: np.random.Generator) -> None:
    # Numbers drawn by more than one chunk: the first person keeps it, the others draw again (from their
    # carrier's prefixes) until every number is distinct. Sorting holds 16 bytes a person for a moment.
    while True:
        order = np.argsort(numbers, kind="stable")
        ordered = numbers[order]
        repeated = order[1:][ordered[1:] == ordered[:-1]]
        del order, ordered
        if not len(repeated):
            return
        numbers[repeated] = _numbers(carrier[repeated], rng)
