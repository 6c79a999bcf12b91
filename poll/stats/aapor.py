"""AAPOR final dispositions and outcome rates (Standard Definitions, 10th edition, 2023).

A case is one personal link sent. Its final disposition, from what is known of
it, highest first:

- complete (I, 1.1): answered in full;
- partial (P, 1.2): the headline answered by SMS, the questions after it not
  (the conversation stopped or ran out of time);
- refusal and break-off (R, 2.1): the form opened and left unanswered, or
  STOP sent before answering;
- non-contact (NC, 2.2): delivered, never opened;
- unknown eligibility (UH, 3.x): sent, with no delivery report and no reply;
- not eligible (NE, 4.x): the network reported the number could not be reached.

There is no "other" (O) disposition in an SMS poll: it is kept at 0. `e`, the
share of cases of unknown eligibility taken as eligible, is estimated by
proportional allocation: the eligible share of the cases whose eligibility is
known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

E_METHOD = "proportional allocation: the eligible share of the cases whose eligibility is known"


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

    @property
    def eligible(self) -> int:
        return self.complete + self.partial + self.refusal + self.non_contact + self.other

    @property
    def e(self) -> float | None:
        """The estimated eligible share of the cases of unknown eligibility."""
        known = self.eligible + self.not_eligible
        return self.eligible / known if known else None


def rates(cases: Dispositions) -> dict[str, float | None]:
    """RR1-RR6, COOP1-COOP4, REF1-REF3 and CON1-CON3; None where the denominator is 0, and the rates
    that need `e` (RR3, RR4, REF2, CON2) None while no case's eligibility is known."""
    i, p, r, nc, o, u = cases.complete, cases.partial, cases.refusal, cases.non_contact, cases.other, cases.unknown
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


def document(cases: Dispositions) -> dict:
    """The dispositions, `e` with how it was estimated, and every rate: JSON-ready."""
    return {"dispositions": asdict(cases), "e": cases.e, "e_method": E_METHOD, **rates(cases)}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
