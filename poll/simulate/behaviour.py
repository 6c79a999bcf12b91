"""What simulated people think and do: true opinions, delivery, opening, answering, and attacks.

Vectorised over people with NumPy. Times are seconds after the first SMS
left. Option indices 0, 1, 2 stand for the poll's answers "1", "2", "3".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poll import iraq
from poll.simulate.population import Population
from poll.simulate.scenario import EDUCATION, OPTIONS, REGIONS, Scenario

SUPPORT = 2  # index of "support the continuation"


def _governorate_table(values: dict, default: float) -> np.ndarray:
    return np.array([values.get(gov.code, default) for gov in iraq.governorates()])


def _region_index() -> np.ndarray:
    return np.array([REGIONS.index(gov.region) for gov in iraq.governorates()])


def opinions(population: Population, scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Each person's true answer (0, 1 or 2), drawn from the scenario's opinion model."""
    spec = scenario["opinion"]
    regional = np.array([spec["support"][region] for region in REGIONS])[_region_index()]
    by_governorate = _governorate_table(spec["support_by_governorate"], np.nan)
    base = np.where(np.isnan(by_governorate), regional, by_governorate)[population.governorate]
    logit = np.log(np.clip(base, 1e-9, 1 - 1e-9) / np.clip(1 - base, 1e-9, 1))
    logit = logit + np.array([spec["support_shift_sex"].get(s, 0.0) for s in ("M", "F")])[population.sex]
    logit = logit + np.array([spec["support_shift_age"].get(b, 0.0) for b in iraq.AGE_BANDS])[population.age_band]
    urban = spec["support_shift_urban"]
    logit = logit + np.where(population.is_urban, urban.get("urban", 0.0), urban.get("rural", 0.0))
    logit = logit + np.array([spec["support_shift_education"][e] for e in EDUCATION])[population.education]
    support = rng.random(len(population)) < 1 / (1 + np.exp(-logit))
    by_all_means = rng.random(len(population)) < spec["by_all_means"]
    return np.where(support, SUPPORT, np.where(by_all_means, 0, 1)).astype(np.int8)


def answer_probability(population: Population, opinion: np.ndarray,
                       scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Per person: the probability of opening the link once the SMS is delivered, and of answering once opened."""
    spec = scenario["response"]
    factor = np.array([spec["open_by_age"].get(b, 1.0) for b in iraq.AGE_BANDS])[population.age_band]
    factor = factor * np.array([spec["open_by_sex"].get(s, 1.0) for s in ("M", "F")])[population.sex]
    urban = spec["open_by_urban"]
    factor = factor * np.where(population.is_urban, urban.get("urban", 1.0), urban.get("rural", 1.0))
    regions = np.array([spec["open_by_region"].get(r, 1.0) for r in REGIONS])[_region_index()]
    factor = factor * regions[population.governorate]
    factor = factor * np.array([spec["open_by_education"][e] for e in EDUCATION])[population.education]
    # Region by age: the young of some regions answer more than region and age alone say.
    young = np.array([spec["open_young_by_region"].get(r, 1.0) for r in REGIONS])[_region_index()]
    factor = factor * np.where(population.age_band == 0, young[population.governorate], 1.0)
    p_open = np.clip(spec["open"] * factor, 0, 1)
    p_answer = np.clip(spec["answer"] * np.array([spec["answer_by_option"][o] for o in OPTIONS])[opinion], 0, 1)
    return p_open, p_answer


def delays(count: int, scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Seconds from delivery to answer: a fast group and a long lognormal tail (may pass the cut-off)."""
    spec = scenario["timing"]
    fast = rng.random(count) < spec["fast_share"]
    fast_delay = spec["fast_median_minutes"] * 60 * np.exp(0.8 * rng.standard_normal(count))
    slow_delay = spec["slow_median_hours"] * 3600 * np.exp(spec["slow_sigma"] * rng.standard_normal(count))
    return np.where(fast, fast_delay, slow_delay)


@dataclass
class Field:
    """What happened to each invited person, and the attempts that must be refused."""

    invited: np.ndarray  # population index of each invitee
    sent_at: np.ndarray  # seconds
    delivered: np.ndarray  # bool
    delivered_at: np.ndarray
    opened: np.ndarray  # bool: opened the link (answered or not)
    opened_at: np.ndarray
    answered: np.ndarray  # bool: an answer was recorded through this link
    answered_at: np.ndarray
    answer: np.ndarray  # option index recorded (valid where answered)
    by_forwardee: np.ndarray  # bool: the recorded answer came from someone the link was forwarded to
    refused_duplicates: np.ndarray  # seconds of attempts through an already-used link
    refused_duplicate_answers: np.ndarray  # the option each of those attempts chose
    refused_duplicate_owners: np.ndarray  # the invitee position whose link each attempt used
    refused_guesses: int  # random tokens tried
    stuffing_option: int
    stuffing_attempts: int  # all campaign submissions (what an open link would count)
    campaigners: np.ndarray  # invitee positions of the campaigners

    @property
    def recorded_answers(self) -> np.ndarray:
        return self.answer[self.answered]


def field(
    population: Population, opinion: np.ndarray, invited: np.ndarray, scenario: Scenario, rng: np.random.Generator
) -> Field:
    """Send the poll to `invited` (population indices) and play out the scenario."""
    n = len(invited)
    cutoff = scenario["timing"]["cutoff_hours"] * 3600
    sent_at = rng.random(n) * scenario["delivery"]["sent_over_minutes"] * 60
    failure = np.array([scenario["delivery"]["failure"].get(op.name, 0.0) for op in iraq.carriers()])
    delivered = rng.random(n) >= failure[population.carrier[invited]]
    delivered_at = sent_at + rng.exponential(20.0, n)

    mine = opinion[invited]
    p_open, p_answer = answer_probability(population, opinion, scenario)
    delay = delays(n, scenario, rng)
    opens = delivered & (rng.random(n) < p_open[invited])
    answers = opens & (rng.random(n) < p_answer[invited]) & (delay <= cutoff)
    own_at = delivered_at + delay

    # Forwarding: the engaged forward most (in proportion to their chance of opening, `share` of the
    # delivered on average); the receiver is someone of the sender's governorate, like-minded or not.
    forwarding = scenario["forwarding"]
    forwarded = delivered & (rng.random(n) < forward_probability(p_open[invited], forwarding["share"]))
    forwardee_answers = forwarded & (rng.random(n) < forwarding["answer"])
    forwardee_opinion = _forwardee_opinions(population, opinion, invited, forwarding["like_minded"], rng)
    forward_delay = delays(n, scenario, rng) + rng.exponential(1800.0, n)
    forwardee_answers &= forward_delay <= cutoff
    forward_at = delivered_at + forward_delay

    forwardee_first = forwardee_answers & (~answers | (forward_at < own_at))
    answered = answers | forwardee_answers
    answered_at = np.where(forwardee_first, forward_at, own_at)
    answer = np.where(forwardee_first, forwardee_opinion, mine).astype(np.int8)
    both = answers & forwardee_answers
    loser_at = np.where(forwardee_first, own_at, forward_at)[both]
    loser_answer = np.where(forwardee_first, mine, forwardee_opinion)[both]

    # Campaigners: delivered invitees who answer for the campaign's option at once, many times.
    stuffing = scenario["stuffing"]
    candidates = np.flatnonzero(delivered)
    campaigners = rng.permutation(candidates)[: min(stuffing["campaigners"], len(candidates))]
    stuffing_option = OPTIONS.index(stuffing["option"])
    attempts_each = stuffing["attempts_each"]
    if attempts_each and len(campaigners):
        answered[campaigners] = True
        answer[campaigners] = stuffing_option
        answered_at[campaigners] = delivered_at[campaigners] + rng.exponential(600.0, len(campaigners))
        campaign_extra = np.repeat(answered_at[campaigners], attempts_each - 1) + rng.exponential(
            60.0, len(campaigners) * (attempts_each - 1)
        )
    else:
        campaigners = campaigners[:0]
        campaign_extra = np.empty(0)

    # Repeat attempts by people whose answer is in.
    repeats = scenario["repeats"]
    again = answered & (rng.random(n) < repeats["share"])
    extra = rng.integers(1, repeats["max_extra"] + 1, n) * again
    repeat_at = np.repeat(answered_at, extra) + rng.exponential(300.0, int(extra.sum()))

    opened = opens | answered
    opened_at = np.where(answered, answered_at - rng.uniform(5, 60, n), own_at)
    duplicates = np.concatenate([loser_at, campaign_extra, repeat_at])
    duplicate_answers = np.concatenate(
        [loser_answer, np.full(len(campaign_extra), stuffing_option), np.repeat(answer, extra)]
    ).astype(np.int8)
    owners = np.concatenate(
        [np.flatnonzero(both), np.repeat(campaigners, max(attempts_each - 1, 0)), np.repeat(np.arange(n), extra)]
    )
    order = np.argsort(duplicates, kind="stable")
    return Field(
        invited=invited,
        sent_at=sent_at,
        delivered=delivered,
        delivered_at=delivered_at,
        opened=opened,
        opened_at=opened_at,
        answered=answered,
        answered_at=answered_at,
        answer=answer,
        by_forwardee=forwardee_first & answered,
        refused_duplicates=duplicates[order],
        refused_duplicate_answers=duplicate_answers[order],
        refused_duplicate_owners=owners[order],
        refused_guesses=scenario["bots"]["guesses"],
        stuffing_option=stuffing_option,
        stuffing_attempts=len(campaigners) * attempts_each,
        campaigners=campaigners,
    )


def forward_probability(p_open: np.ndarray, share: float, sizes: np.ndarray | None = None) -> np.ndarray:
    """Each person's chance of forwarding their link: `share` on average, in proportion to `p_open`
    (people who engage with the message are the ones who pass it on). `sizes` weights the mean (cells)."""
    mean = np.average(p_open, weights=sizes) if len(p_open) else 0.0
    return np.clip(share * p_open / mean, 0, 1) if mean > 0 else np.full(len(p_open), share)


def _forwardee_opinions(population: Population, opinion: np.ndarray, invited: np.ndarray, like_minded: float,
                        rng: np.random.Generator) -> np.ndarray:
    # For each invitee, the opinion of whom they would forward to: theirs with probability `like_minded`,
    # else that of a random person of their governorate.
    by_governorate = np.argsort(population.governorate, kind="stable")
    sizes = np.bincount(population.governorate, minlength=len(iraq.governorates()))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    home = population.governorate[invited]
    neighbour = by_governorate[starts[home] + (rng.random(len(invited)) * sizes[home]).astype(np.int64)]
    return np.where(rng.random(len(invited)) < like_minded, opinion[invited], opinion[neighbour])


def open_link_counts(result: Field) -> np.ndarray:
    """What an open link (no personal tokens, no duplicate check) would have counted per option.

    Every refused duplicate (repeat, forwarded, campaign) would have counted too.
    """
    return np.bincount(
        np.concatenate([result.recorded_answers, result.refused_duplicate_answers]), minlength=len(OPTIONS)
    )


def variant_effects(experiment, scenario: Scenario) -> np.ndarray:
    """Per variant of `experiment`, a matrix M with M[i, j] the chance that one whose own answer is i says j.

    The scenario's `[experiment]`: `primacy` of respondents take the first
    answer they are shown instead of their own; then `shift` of those asked in
    `shift_variant` choose `shift_option` instead. Rows sum to 1.
    """
    spec = scenario["experiment"]
    k = len(OPTIONS)
    matrices = []
    for variant in experiment.variants:
        moved = np.eye(k)
        first = variant.first_shown(OPTIONS)
        if first is not None and spec["primacy"]:
            moved = (1 - spec["primacy"]) * moved + spec["primacy"] * np.eye(k)[OPTIONS.index(first)]
        if variant.name == spec["shift_variant"] and spec["shift"]:
            moved = (1 - spec["shift"]) * moved + spec["shift"] * np.eye(k)[OPTIONS.index(spec["shift_option"])]
        matrices.append(moved)
    return np.stack(matrices)


def asked_answers(answer: np.ndarray, shown: np.ndarray, effects: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`answer` (option indices) as said when asked in variant `shown` (indices), through `variant_effects`."""
    chances = effects[shown, answer]  # one row of chances per respondent
    draws = rng.random(len(answer))[:, None]
    return (draws > np.cumsum(chances, axis=1)).sum(axis=1).clip(max=effects.shape[1] - 1)
