"""The `poll` commands: a thin shell over the services.

Each command is one unit of work: it gets a session, calls services, and
commits once at the end; a refusal rolls everything back and prints one line.
They are registered on every app's `app.cli` (so `app.test_cli_runner()`
runs them) and make up the `poll` console command (`poll.cli`).
"""

from poll.commands import operators, polls, results, setup, simulate, sms, weighting  # noqa: F401  (each registers its commands)
from poll.commands._base import command_group

ALL = command_group.commands
