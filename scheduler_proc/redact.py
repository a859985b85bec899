"""Mask secrets in any text that may carry a connection string: logs, errors, HTTP bodies, history.

One function for every place, so no path forgets a form: a password in a URL's userinfo
(``redis://user:pw@host``, also when the scheme is mistyped), in a query parameter
(``?password=pw``, redis-py's form for ``unix://`` sockets), and any known secret value
(the ``SCHEDULER_*`` passwords and tokens) wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# user:password@ before a host (with or without a scheme in front; the user may be empty).
_USERINFO = re.compile(r"(?P<head>(?:[a-zA-Z][\w+.-]*:)?//[^\s/@:]*:|(?<![\w/])[\w.-]*:)(?P<secret>[^\s@/]+)@")
# password=... (or pass=, pwd=, token=, secret=) in a query string or a key=value list.
_PARAMETER = re.compile(r"(?P<head>\b(?:password|passwd|pwd|pass|token|secret|auth)=)(?P<secret>[^&\s;'\",]+)", re.I)

_known: set[str] = set()


def remember(secrets: Iterable[str | None]) -> None:
    """Secrets whose values must never show, wherever they appear (set from the settings; 8 characters or more:
    a shorter value would mask ordinary words, and URL passwords are masked by their form anyway)."""
    _known.update(secret for secret in secrets if secret and len(secret) >= 8)


def secrets_in(text: str) -> list[str]:
    """The passwords ``text`` carries in the forms :func:`redact` masks (to :func:`remember` them)."""
    return [match["secret"] for pattern in (_USERINFO, _PARAMETER) for match in pattern.finditer(text)]


def redact(text: str) -> str:
    """``text`` with every password it may carry replaced by ``***``."""
    if "@" in text:  # the userinfo form ends in "@"; skipping its scan halves the cost of a log line
        text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    text = _PARAMETER.sub(lambda m: m["head"] + MASK, text)
    for secret in _known:
        text = text.replace(secret, MASK)
    return text
