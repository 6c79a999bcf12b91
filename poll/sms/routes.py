"""SMS routes: which SMSC connection a number's messages take, and at what speed.

Iraq has no number portability, so a mobile number's prefix names its
carrier (data/iraq.toml) and the carrier's SMSC is the route. A route is
Kannel's `smsc-id` (every `group = smsc` with that id is one of its binds;
bearerbox spreads the route's messages over them) with a speed cap in
segments per second for the whole route, held across every dispatcher
(services.messaging.sms_routes). POLL_SMS_ROUTES writes them as

    zain:78,79=240; asiacell:77=240; korek:75=120; other:*=50

`NAME:PREFIXES=CAP`, routes separated by ";", prefixes by ",". A prefix is
the digits after +964 (78 for 0780… and 0781…, or 780 for 0780… alone): the
longest matching prefix wins, and "*" takes every number no other route
takes. With POLL_SMS_ROUTES empty there are no routes and the dispatcher
sends as before: one gateway, POLL_SMS_RATE messages a second, no window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COUNTRY = "+964"
ANY = "*"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PREFIX = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class Route:
    name: str  # Kannel's smsc-id of the route's binds
    prefixes: tuple[str, ...]  # digits after +964, or ("*",) for every number no other route takes
    cap: float  # segments per second, for the whole route (all its binds)

    @property
    def is_default(self) -> bool:
        return ANY in self.prefixes


def parse(text: str) -> tuple[Route, ...]:
    """The routes POLL_SMS_ROUTES describes (see the module); () for an empty value.

    Raises ValueError naming the part that is wrong: a route with no name,
    prefix or cap, a cap that is not a positive number, a name given twice,
    or one prefix given to two routes.
    """
    routes: list[Route] = []
    owners: dict[str, str] = {}
    for part in (piece.strip() for piece in (text or "").split(";")):
        if not part:
            continue
        match = re.fullmatch(r"([^:=]+):([^=]+)=(.+)", part)
        if match is None:
            raise ValueError(f"SMS route {part!r} is not NAME:PREFIXES=CAP (e.g. zain:78,79=240)")
        name, prefixes, cap = (group.strip() for group in match.groups())
        name = name.lower()
        if not _NAME.fullmatch(name):
            raise ValueError(f"SMS route name {name!r}: use letters, digits, - and _ (it is Kannel's smsc-id)")
        if any(route.name == name for route in routes):
            raise ValueError(f"SMS route {name!r} is given twice")
        try:
            speed = float(cap)
        except ValueError:
            speed = 0.0
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"SMS route {name!r}: the cap {cap!r} is not a positive number of segments a second")
        listed = tuple(prefix.strip().removeprefix(COUNTRY).removeprefix("0") if prefix.strip() != ANY
                       else ANY for prefix in prefixes.split(","))
        for prefix in listed:
            if prefix != ANY and not _PREFIX.fullmatch(prefix):
                raise ValueError(f"SMS route {name!r}: the prefix {prefix!r} is not digits after +964 (e.g. 78)")
            if prefix in owners:
                raise ValueError(f"SMS routes {owners[prefix]!r} and {name!r} both take the prefix {prefix!r}")
            owners[prefix] = name
        routes.append(Route(name, listed, speed))
    return tuple(routes)


def route_for(routes: tuple[Route, ...], phone: str) -> Route | None:
    """The route of an E.164 `phone`: the longest prefix that matches, else the "*" route, else None."""
    national = phone.removeprefix(COUNTRY) if phone.startswith(COUNTRY) else None
    best: tuple[int, Route] | None = None
    for route in routes:
        for prefix in route.prefixes:
            if national is not None and prefix != ANY and national.startswith(prefix):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), route)
    if best is not None:
        return best[1]
    return next((route for route in routes if route.is_default), None)


def like_patterns(routes: tuple[Route, ...], route: Route) -> tuple[list[str], list[str]]:
    """SQL LIKE patterns of the numbers `route` takes, and of those it does not (a longer prefix elsewhere).

    For the "*" route the first list is empty: it takes every number that
    none of the other routes' patterns match.
    """
    own = [f"{COUNTRY}{prefix}%" for prefix in route.prefixes if prefix != ANY]
    others = [f"{COUNTRY}{prefix}%" for other in routes if other is not route for prefix in other.prefixes
              if prefix != ANY and (route.is_default or any(prefix.startswith(mine) and prefix != mine
                                                            for mine in route.prefixes if mine != ANY))]
    return own, others
