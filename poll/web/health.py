"""A health check for load balancers and for tests waiting on a server to start."""

import sqlalchemy as sa
from flask import Blueprint

from poll.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 "ok" when the app can reach its database."""
    get_session().execute(sa.text("SELECT 1"))
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
