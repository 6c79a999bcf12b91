"""Rate limits counted by hand, where a decorator would count the wrong requests.

Flask-Limiter's decorators decide before the view runs; the answer page can
only tell a guessed token from a real link once it has looked the token up.
With a shared store (POLL_RATELIMIT_STORAGE_URI=redis://…) these helpers count
in the limiter's storage, across workers. With the default in-process store
they count fixed windows in a plain dictionary: the same rule as the limits
library's memory storage (a window per key, from its first hit), without the
timer thread that storage starts for every new key, which is every link
answered.
"""

from __future__ import annotations

import functools
import threading
import time

from flask import Flask, Response, current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from poll.extensions import limiter


def allow(setting: str, scope: str, key: str | int) -> bool:
    """Count one request against the limit configured as `setting` for `key`; False once it is over."""
    if not limiter.enabled:
        return True
    limit = _limit(current_app.config[setting])
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        windows = current_app.extensions.get(_EXTENSION) or current_app.extensions.setdefault(_EXTENSION,
                                                                                             FixedWindows())
        return windows.hit(limit, scope, key)
    return limiter.limiter.hit(limit, scope, str(key))


_EXTENSION = "poll-throttle"  # the app's in-process windows


def client_address() -> str:
    """The client's address as the limits see it (after POLL_PROXY_COUNT proxies)."""
    return get_remote_address()


@functools.lru_cache(maxsize=64)
def _limit(text: str) -> RateLimitItem:
    return parse(text)


class FixedWindows:
    """Hits per key in this process, each key's window starting at its first hit (as the limits library's).

    Keys whose window has passed are swept out when the count of keys grows,
    so memory follows the keys of the last window, not every link ever seen.
    """

    SWEEP_AT = 50_000

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[RateLimitItem, str, str | int], list[float | int]] = {}
        self._sweep_at = self.SWEEP_AT

    def hit(self, limit: RateLimitItem, scope: str, key: str | int) -> bool:
        """Count a hit for `key`; False when its window already holds `limit.amount` of them."""
        now, period = self._clock(), limit.get_expiry()
        with self._lock:
            window = self._hits.get((limit, scope, key))
            if window is None or now - window[0] >= period:
                window = self._hits[(limit, scope, key)] = [now, 0]
                if len(self._hits) >= self._sweep_at:
                    self._sweep(now)
            if window[1] >= limit.amount:
                return False
            window[1] += 1
            return True

    def _sweep(self, now: float) -> None:
        self._hits = {key: window for key, window in self._hits.items() if now - window[0] < key[0].get_expiry()}
        self._sweep_at = max(self.SWEEP_AT, 2 * len(self._hits))


# Views that count their own requests here, and are exempt from every limit of Flask-Limiter's.
SELF_COUNTED = frozenset({"respond.answer"})


def init_app(app: Flask) -> None:
    """Let the views in SELF_COUNTED skip Flask-Limiter's work around each request.

    The extension looks every request up against its limits before the view,
    even a view marked exempt, where it finds nothing to count; afterwards it
    adds the headers of the limit it found (none) and clears its state. On the
    answer page that was a tenth of a request's time. Limits decorated on
    views are checked by their decorators, so skipping the hooks for an
    exempt view changes no count.
    """
    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        registered = hooks.setdefault(None, [])
        for position, hook in enumerate(registered):
            if _owner(hook) is limiter:
                registered[position] = _unless_self_counted(hook)


def _owner(hook) -> object:
    # The limiter's hooks are its bound methods, or partials of its functions with it as the first argument.
    if isinstance(hook, functools.partial):
        return hook.args[0] if hook.args else None
    return getattr(hook, "__self__", None)


def _unless_self_counted(hook):
    @functools.wraps(hook)
    def skipping(*args):
        if request.endpoint in SELF_COUNTED:
            return args[0] if args and isinstance(args[0], Response) else None
        return hook(*args)

    return skipping
