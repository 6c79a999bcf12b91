"""How an SMS is encoded and how many segments it takes (what operators bill).

GSM-7 carries 160 characters in one segment and 153 in each part of a longer
message; a single character outside GSM-7 (any Arabic letter) makes the whole
message UCS-2: 70 characters, 67 per part. GSM-7's extension characters take
two slots; characters outside the Basic Multilingual Plane take two UCS-2 units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Encoding:
    name: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, 16-bit units for UCS-2
    segments: int
    single_limit: int
    part_limit: int


def analyze(text: str) -> Encoding:
    """The encoding, size and segment count of `text` as one SMS."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, name = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-be")) // 2
        single, part, name = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return Encoding(name, units, segments, single, part)
