"""Mask secrets in any text that may carry a connection string: logs, errors, HTTP bodies, history.

One function for every place, so no path forgets a form: a password in a URL's userinfo
(``redis://user:pw@host``, also when the scheme is mistyped), in a query parameter
(``?password=pw``, redis-py's form for ``unix://`` sockets), and any known secret value
(the ``SCHEDULER_*`` passwords and tokens) wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"

# user:password@ before a host (with or without a scheme in front; the user may be empty).
_USERINFO = re.compile(r"(?P<head>(?:[a-zA-Z][\w+.-]*:)?//[^\s/@:]*:|(?<![\w/])[\w.-]*:)(?P<secret>[^\s@/]+)@")
# password=... (or pass=, pwd=, token=, secret=, redis-py's ssl_password=) in a query string or a key=value list.
_SECRET_KEYS = "ssl_password|password|passwd|pwd|pass|token|secret|auth"
_PARAMETER = re.compile(rf"(?P<head>\b(?:{_SECRET_KEYS})=)(?P<secret>[^&\s;'\",]+)", re.I)

_known: set[str] = set()


def remember(secrets: Iterable[str | None]) -> None:
    """Secrets whose values must never show, wherever they appear (set from the settings; 8 characters or more:
    a shorter value would mask ordinary words, and URL passwords are masked by their form anyway)."""
    _known.update(secret for secret in secrets if secret and len(secret) >= 8)


def secrets_in(url: str) -> list[str]:
    """The passwords a connection URL carries, to :func:`remember` them: an error may quote one alone.

    The forms :func:`redact` masks, plus the URL's own reading of its password and secret query
    values (whole, where a log line's form stops at a comma), each as written and percent-decoded.
    """
    written = [match["secret"] for pattern in (_USERINFO, _PARAMETER) for match in pattern.finditer(url)]
    decoded = [unquote(value) for value in written]
    try:
        parts = urlsplit(url)
        decoded += [
            parts.password or "",
            *(v for k, v in parse_qsl(parts.query) if re.fullmatch(_SECRET_KEYS, k, re.I)),
        ]
    except ValueError:  # not a URL Python can split; the patterns above still apply
        pass
    return written + decoded


def redact(text: str) -> str:
    """``text`` with every password it may carry replaced by ``***``."""
    if "@" in text:  # the userinfo form ends in "@"; skipping its scan halves the cost of a log line
        text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    text = _PARAMETER.sub(lambda m: m["head"] + MASK, text)
    for secret in _known:
        text = text.replace(secret, MASK)
    return text
