"""Refusals meant for people: each carries a message that says what happened and what to do."""


class PollError(Exception):
    """Something a user asked for cannot be done; the message says why."""


class NotFound(PollError):
    """The poll, audience or link named does not exist."""


class Invalid(PollError):
    """The input is malformed or breaks a rule; nothing was changed."""


def N_(message: str) -> str:
    """Mark `message` for the catalogues without translating it: it is translated where it is shown."""
    return message


class SendRefused(Invalid):
    """A send that would harm (a draft poll, no sender, links phones cannot open); nothing was queued.

    `reason` is an interface string with %(name)s placeholders, filled from
    `values`: the command line prints it in English, a page shows
    `gettext(reason, **values)` in the operator's language.
    """

    def __init__(self, reason: str, **values: str):
        self.reason, self.values = reason, values
        super().__init__(reason % values)
