"""AAPOR final dispositions and outcome rates (Standard Definitions, 10th edition, 2023).

A case is one personal link issued. Its final disposition, from what is known
of it, highest first:

- complete (I, 1.1): answered in full;
- partial (P, 1.2): the headline answered by SMS, the questions after it not
  (the conversation stopped or ran out of time);
- refusal and break-off (R, 2.1): the form opened and left unanswered, or
  STOP sent before answering;
- non-contact (NC, 2.2): delivered, never opened;
- unknown eligibility (UH, 3.x): sent, with no delivery report and no reply,
  or with a failure that does not say the number is not in service (the SMSC
  down, a full inbox, a phone switched off);
- no invitation sent (3.11, of unknown eligibility too): never sent, because
  the gateway gave up or the link was handed out by other means;
- not eligible (NE, 4.x): the network reported the number unknown or not
  allocated, the only evidence an SMS poll has of a non-working number.

There is no "other" (O) disposition in an SMS poll: it is kept at 0. `e`, the
share of cases of unknown eligibility taken as eligible, is estimated by
proportional allocation: the eligible share of the cases whose eligibility is
known. With no case known not eligible it is 1 by construction, and says so.

"Response rate" presumes a probability sample of a defined frame; a list of
numbers gathered any other way has a participation rate (AAPOR's term for
opt-in and list samples), computed the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

E_METHOD = "proportional allocation: the eligible share of the cases whose eligibility is known"
E_BY_CONSTRUCTION = ("1 by construction: no link was reported as reaching an unknown or unallocated number, so every "
                     "case of unknown eligibility is taken as eligible")
RESPONSE_RATE = "response rate"
PARTICIPATION_RATE = "participation rate"


@dataclass(frozen=True)
class Dispositions:
    """How many cases ended in each AAPOR final disposition."""

    complete: int
    partial: int
    refusal: int
    non_contact: int
    unknown: int
    not_eligible: int
    other: int = 0
    # Of the unknown, never sent (AAPOR 3.11); kept apart from `unknown` (sent, fate unknown) to be stated.
    not_sent: int = 0

    @property
    def eligible(self) -> int:
        return self.complete + self.partial + self.refusal + self.non_contact + self.other

    @property
    def unknown_eligibility(self) -> int:
        """Every case of unknown eligibility: sent with nothing more known, and never sent."""
        return self.unknown + self.not_sent

    @property
    def e(self) -> float | None:
        """The estimated eligible share of the cases of unknown eligibility."""
        known = self.eligible + self.not_eligible
        return self.eligible / known if known else None


def rates(cases: Dispositions) -> dict[str, float | None]:
    """RR1-RR6, COOP1-COOP4, REF1-REF3 and CON1-CON3; None where the denominator is 0, and the rates
    that need `e` (RR3, RR4, REF2, CON2) None while no case's eligibility is known."""
    i, p, r, nc, o = cases.complete, cases.partial, cases.refusal, cases.non_contact, cases.other
    u = cases.unknown_eligibility
    e = cases.e
    answered = i + p
    all_cases = answered + r + nc + o + u
    estimated = answered + r + nc + o + e * u if e is not None else 0
    known = answered + r + nc + o
    interviewed = answered + r + o
    return {
        "RR1": _ratio(i, all_cases), "RR2": _ratio(answered, all_cases),
        "RR3": _ratio(i, estimated), "RR4": _ratio(answered, estimated),
        "RR5": _ratio(i, known), "RR6": _ratio(answered, known),
        "COOP1": _ratio(i, interviewed), "COOP2": _ratio(answered, interviewed),
        "COOP3": _ratio(i, answered + r), "COOP4": _ratio(answered, answered + r),
        "REF1": _ratio(r, all_cases), "REF2": _ratio(r, estimated), "REF3": _ratio(r, known),
        "CON1": _ratio(interviewed, all_cases), "CON2": _ratio(interviewed, estimated),
        "CON3": _ratio(interviewed, known),
    }


def document(cases: Dispositions, *, probability_sample: bool = False) -> dict:
    """The dispositions, `e` with how it was estimated, what the rates may be called, and every rate: JSON-ready.

    `probability_sample` says the links went to a probability sample of a
    defined frame (a simulation's random draw); otherwise RR1... are
    participation rates.
    """
    by_construction = cases.e is not None and cases.not_eligible == 0
    return {"dispositions": asdict(cases), "e": cases.e,
            "e_method": E_BY_CONSTRUCTION if by_construction else E_METHOD, "e_by_construction": by_construction,
            "rate_name": RESPONSE_RATE if probability_sample else PARTICIPATION_RATE, **rates(cases)}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
