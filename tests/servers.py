"""Real server processes for tests: gunicorn serving the app on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests import logs

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    database_url: str, *, workers: int = 4, base_url: str | None = None, port: int | None = None,
    env: dict[str, str] | None = None, access_log: Path | None = None,
) -> Iterator[str]:
    """Serve the app under gunicorn on loopback; yields its base URL and stops it after.

    Its access log (at `access_log` if given), error log and output are kept
    where the suite's log check reads them (tests/logs.py).
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "POLL_DATABASE_URL": database_url,
        "POLL_SECRET_KEY": "test-secret",
        "POLL_BASE_URL": base_url or url,
    } | (env or {})
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--log-level", "warning", "--timeout", "60", "--logger-class", "poll.logs.GunicornLogger",
        # A sync worker blocks on a connection a browser opened ahead and never used; when the
        # server stops, gunicorn kills such a worker after this many seconds, inside the wait below.
        "--graceful-timeout", "10", "poll.wsgi:app",
    ]
    # The access log holds at least the health check that wait_until_serving makes.
    access_log = logs.register(access_log, at_least=1) if access_log else logs.path("gunicorn-access", at_least=1)
    command[-1:-1] = ["--access-logfile", str(access_log), "--error-logfile", str(logs.path("gunicorn-error"))]
    with _serving(command, env, logs.path("gunicorn-output"), url):
        yield url


@contextlib.contextmanager
def poll_serve(database_url: str, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the app with `poll serve` (werkzeug's development server); yields its base URL, its log kept."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"POLL_DATABASE_URL": database_url, "POLL_SECRET_KEY": "test-secret",
                        "POLL_BASE_URL": url} | (env or {})
    command = [sys.executable, "-m", "poll.cli", "serve", "--port", str(port)]
    with _serving(command, env, logs.path("poll-serve", at_least=1), url):
        yield url


@contextlib.contextmanager
def _serving(command: list[str], env: dict[str, str], output_log, url: str) -> Iterator[None]:
    # The server process with its output kept in `output_log`, until the block ends.
    with output_log.open("ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(url, process)
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Return once GET /healthz answers 200; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)  # polling a port that is not open yet, bounded by the deadline
    raise RuntimeError(f"server at {url} did not answer within {timeout} s")


class ScriptedSendsms:
    """An HTTP server on loopback answering sendsms requests with the statuses it is given, in order, then 202.

    For the dispatcher's own tests (refusals, outages, pauses); the real
    smsbox is driven in tests/test_kannel.py.
    """

    BODIES = {202: b"0: Accepted for delivery", 403: b"Authorization failed for sendsms",
              503: b"Temporal failure, try again later."}

    def __init__(self, statuses: list[int]):
        import http.server
        import threading

        script, received = list(statuses), []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                status = script.pop(0) if script else 202
                received.append((self.path, status))
                body = ScriptedSendsms.BODIES.get(status, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/sendsms"

    def __enter__(self) -> ScriptedSendsms:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
