"""Rate limits counted by hand, where a decorator would count the wrong requests.

Flask-Limiter's decorators decide before the view runs; the answer page can
only tell a guessed token from a real link once it has looked the token up.
These helpers use the same limiter storage (memory, or Redis across workers).
"""

from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse

from poll.extensions import limiter


def allow(setting: str, scope: str, key: str | int) -> bool:
    """Count one request against the limit configured as `setting` for `key`; False once it is over."""
    if not limiter.enabled:
        return True
    return limiter.limiter.hit(parse(current_app.config[setting]), scope, str(key))


def client_address() -> str:
    """The client's address as the limits see it (after POLL_PROXY_COUNT proxies)."""
    return get_remote_address()
