"""Every log the suite's servers write, gathered and searched at the end of the run for phone numbers and link tokens.

No log line may hold a phone number or a personal link's token at all. The
servers the tests start write their logs through `path` (gunicorn's access
and error logs and its output, `poll serve`, the dispatcher) or `register`
(Kannel's bearerbox and smsbox), and the app's own log, in the test process,
goes to one more file; `conftest.server_logs` scans them all once the
session ends and fails the run naming each file and line that holds one.

The check cannot pass by reading nothing: a server's log that must hold at
least some lines (gunicorn's access log holds its health check) is counted,
and a missing or short one fails the run too.
"""

from __future__ import annotations

import itertools
import re
import tempfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Arabic-Indic (Arabic) and extended Arabic-Indic (Persian, Kurdish) digits, read as ASCII ones.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_GAP = r"[ \-]?"  # "0770 123 4567", "0770-123-4567"
# The country or trunk prefix may be left out: "770 123 4567" is a number too.
PHONE = re.compile(rf"(?<![0-9A-Za-z.])(?:(?:(?:\+|00)?964|0){_GAP})?7(?:{_GAP}\d){{9}}(?![0-9A-Za-z])")
LINK = re.compile(r"/p/[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")
WORD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")


@dataclass
class _State:
    folder: Path | None = None
    expected: dict[Path, int] = field(default_factory=dict)  # each log, and the fewest lines it must hold
    tokens: set[str] = field(default_factory=set)
    numbers: itertools.count = field(default_factory=itertools.count)


_state = _State()


def start(folder: Path) -> None:
    """Gather this session's server logs in `folder`."""
    _state.folder = folder
    _state.expected.clear()
    _state.tokens.clear()


def path(name: str, *, at_least: int = 0) -> Path:
    """A new log file called after `name`, searched at the end; it must hold at least `at_least` lines."""
    if _state.folder is None:  # a server started outside a test session: its log is kept, and not searched
        _state.folder = Path(tempfile.mkdtemp(prefix="poll-server-logs-"))
    return register(_state.folder / f"{name}-{next(_state.numbers)}.log", at_least=at_least)


def register(log: Path, *, at_least: int = 0) -> Path:
    """Search `log` at the end too (a server writing where its own test reads)."""
    _state.expected[log] = max(at_least, _state.expected.get(log, 0))
    return log


def issued(tokens: list[str]) -> list[str]:
    """Remember tokens the tests issued: none may appear in a log, wherever in a line."""
    _state.tokens.update(tokens)
    return tokens


def latest(name: str) -> Path:
    """The newest log made by `path(name)`."""
    return max((log for log in _state.expected if log.name.startswith(f"{name}-")),
               key=lambda log: int(log.stem.rsplit("-", 1)[1]))


def forget(log: Path) -> None:
    """Stop searching `log` (a test's own planted log, once it has proved its point)."""
    _state.expected.pop(log, None)


def registered() -> dict[Path, int]:
    return dict(_state.expected)


def tokens() -> frozenset[str]:
    return frozenset(_state.tokens)


@dataclass(frozen=True)
class Finding:
    file: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


@dataclass
class Scan:
    lines: int = 0
    findings: list[Finding] = field(default_factory=list)
    short: list[str] = field(default_factory=list)  # logs missing, or holding fewer lines than they must

    def problems(self) -> list[str]:
        return [*self.short, *(str(finding) for finding in self.findings)]


def found_in(line: str, issued_tokens: frozenset[str] = frozenset()) -> list[str]:
    """What in `line` a log must never hold: phone numbers, personal links, issued tokens (as found, shortened)."""
    found = []
    seen = {line, urllib.parse.unquote(line), urllib.parse.unquote(urllib.parse.unquote(line))}
    for text in seen:
        ascii_digits = text.translate(_DIGITS)
        found += [f"a phone number {_shown(m)}" for m in PHONE.findall(ascii_digits)]
        found += [f"a personal link {_shown(m)}" for m in LINK.findall(text)]
        found += [f"an issued token {_shown(m)}" for m in WORD.findall(text) if m in issued_tokens]
    return sorted(set(found))


def scan(logs: dict[Path, int], issued_tokens: Iterable[str] = ()) -> Scan:
    """Read each log line by line; report what none may hold, and any log shorter than it must be."""
    issued_tokens = frozenset(issued_tokens)
    report = Scan()
    for log, at_least in sorted(logs.items()):
        if not log.exists():
            if at_least:
                report.short.append(f"{log}: missing (its server should have written at least {at_least} lines)")
            continue
        count = 0
        with log.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                count = number
                report.findings += [Finding(log, number, what) for what in found_in(line, issued_tokens)]
        report.lines += count
        if count < at_least:
            report.short.append(f"{log}: {count} lines, fewer than the {at_least} its server writes")
    return report


def _shown(found: str) -> str:
    # Enough to find it again in the file, not the whole of it: the report is a log too.
    return repr(found[:6] + "…")
