"""poll: a public-opinion SMS poll platform and simulator."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from poll import commands, db, i18n, logs, web
from poll.config import DEFAULTS, LOCAL_BASE_URL, instance_base_url
from poll.extensions import csrf, limiter


class App(Flask):
    """Flask, deciding once per function whether a view or hook is a coroutine.

    Flask asks `inspect` again for every hook of every request (eleven on
    the answer page); the answer never changes for a function.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: dict[Any, Any] = {}

    def ensure_sync(self, func):
        try:
            return self._synchronous[func]
        except KeyError:
            made = self._synchronous[func] = super().ensure_sync(func)
            return made
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then POLL_* environment variables, then `config`."""
    app = App(__name__, template_folder=_templates_folder(), instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("POLL")
    if config is not None:
        app.config.from_mapping(config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    if not app.config["BASE_URL"]:
        app.config["BASE_URL"] = instance_base_url(Path(app.instance_path)) or LOCAL_BASE_URL
    app.config["BASE_URL"] = str(app.config["BASE_URL"]).rstrip("/")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    logs.init_app(app)
    db.init_app(app)
    i18n.init_app(app)
    # The cookie lives as long as the server-side session may (see poll.web.auth).
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(app.config["SESSION_MAX_HOURS"]))
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    if int(app.config["PROXY_COUNT"]):
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    csrf.init_app(app)
    limiter.init_app(app)
    web.init_app(app)
    for command in commands.ALL.values():
        app.cli.add_command(command)
    return app


def _templates_folder() -> str:
    # A wheel carries the templates inside the package; a checkout (and an
    # editable install, which imports from it) keeps them at the top level.
    packaged = Path(__file__).parent / "templates"
    return str(packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates")


def _instance_secret(instance: Path) -> str:
    # A key made once per installation, so sessions survive restarts without a
    # secret checked into the code. POLL_SECRET_KEY overrides it.
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()
