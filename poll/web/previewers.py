"""Who fetches a personal link without a person opening it: the one list the answer page consults.

An open is the only sign that an SMS reached someone who then chose not to
answer (AAPOR's refusal and break-off, against non-contact), so a GET of a
link counts as one only when a person's browser asks for it. Messaging apps
fetch a link as soon as it arrives in a chat, to draw its preview card;
search engines crawl links people post; browsers fetch ahead of a tap when
they guess it will come. None of these is the recipient looking at the
form, and counting them would turn every forwarded or previewed link into a
"refusal".

Not an open, besides what this module recognises: HEAD requests, a browser
logged in as an operator (an admin trying a link), and the workspace's
preview, which renders the form without any link.
"""

from __future__ import annotations

import re

from flask import Request

# Lower-case fragments of the User-Agent of the link-preview fetchers and crawlers that Iraqi phones' messaging
# apps and the big platforms send (each as its vendor documents it); matched anywhere in the header.
LINK_PREVIEW_AGENTS = (
    "whatsapp",  # WhatsApp's preview fetcher: "WhatsApp/2.23.20.0 A"
    "telegrambot",  # Telegram: "TelegramBot (like TwitterBot)"
    "viber",  # Viber's link preview
    "facebookexternalhit",  # Facebook and Messenger: "facebookexternalhit/1.1"
    "facebot",
    "meta-externalagent",
    "twitterbot",  # X / Twitter cards
    "slackbot",  # "Slackbot-LinkExpanding 1.0"
    "discordbot",
    "skypeuripreview",  # Skype and Teams
    "linkedinbot",
    "googlebot",
    "bingbot",
    "applebot",  # iMessage's previews and Apple's crawler
    "snapchat",
    "pinterest",
    "redditbot",
    "embedly",
    "yandexbot",
    "duckduckbot",
)
# Headers a browser sets when it fetches a page ahead of a tap that may never come (Chromium's prerender and
# prefetch send Sec-Purpose; older browsers Purpose or X-Moz), as WSGI names them.
PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")
_AHEAD = re.compile("prefetch|prerender", re.IGNORECASE)
_PREVIEWER = re.compile("|".join(re.escape(fragment) for fragment in LINK_PREVIEW_AGENTS), re.IGNORECASE)


def is_link_preview(request: Request) -> bool:
    """Whether `request` is a link-preview bot, a crawler or a browser's prefetch rather than a person's look."""
    # Read from the WSGI environ: every look-up of a header a request lacks raised and caught an exception.
    return is_preview(request.environ)


def is_preview(environ: dict) -> bool:
    """`is_link_preview` of a request's WSGI environ."""
    if any(_AHEAD.search(environ.get(name, "")) for name in PREFETCH_HEADERS):
        return True
    return _PREVIEWER.search(environ.get("HTTP_USER_AGENT", "")) is not None
