"""Refusals meant for people: each carries a message that says what happened and what to do."""


class PollError(Exception):
    """Something a user asked for cannot be done; the message says why."""


class NotFound(PollError):
    """The poll, audience or link named does not exist."""


class Invalid(PollError):
    """The input is malformed or breaks a rule; nothing was changed."""
