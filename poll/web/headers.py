"""The headers every response carries unless its view set them."""

from flask import Response, current_app, request

# Every response's headers unless its view set them (a header named here and already there is left alone).
DEFAULT_HEADERS = (
    # No inline script or style anywhere, so the policy can stay this strict.
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    # Pages hold links, phone numbers or live figures: no cache keeps them
    # unless a view says otherwise (static files and public snapshots do).
    ("Cache-Control", "no-store"),
)


def security_headers(response: Response) -> Response:
    # One pass over the headers already set: a lookup of each missing one by name raised and caught an
    # exception inside werkzeug, several times a request.
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    headers.extend([(name, value) for name, value in DEFAULT_HEADERS if name.lower() not in present])
    if "public" in headers.get("Cache-Control", "") and response.cache_control.public and request.cookies:
        # A browser with cookies (an operator's session) may get them refreshed with the page: a shared
        # cache must not keep that page, nor hand its Set-Cookie to anyone else.
        response.cache_control.public = False
        response.cache_control.private = True
    if _secure(current_app.config["BASE_URL"]) and "strict-transport-security" not in present:
        headers.extend([HSTS])
    return response


HSTS = ("Strict-Transport-Security", "max-age=31536000")


def completed(given: tuple[tuple[str, str], ...], base_url: str) -> list[tuple[str, str]]:
    """`given` headers and the defaults they do not name, as `security_headers` completes a response of no
    public cache (for a page served without Flask's response object, poll.web.lane)."""
    present = {name.lower() for name, _value in given}
    return [*given, *(header for header in DEFAULT_HEADERS if header[0].lower() not in present),
            *([HSTS] if _secure(base_url) else [])]


def _secure(base_url: str) -> bool:
    return base_url.startswith("https://")
