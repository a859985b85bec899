"""Mask secrets in any text that may carry a connection string: logs, errors, HTTP bodies, history.

One function for every place, so no path forgets a form: every known secret value (the
``SCHEDULER_*`` passwords and tokens, and the passwords inside ``SCHEDULER_REDIS_URL``), of
any length, as written and percent-encoded or decoded; and, for URLs no setting names, a
password in a URL's userinfo (``redis://user:pw@host``, also when it holds ``@`` or ``/``)
or in a URL's query (``?password=pw``, redis-py's form for ``unix://`` sockets).
Anything else (a user's own ``token=42``) is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"

# scheme://user:password@ : the password runs to the last '@' of the word, so a password
# holding '@' or '/' (base64) is masked whole.
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^\s/@:]*:)(?P<secret>\S+)@")
# user:password@host without a (correct) scheme: only up to the first '@'.
_BARE_USERINFO = re.compile(r"(?P<head>(?:[a-zA-Z][\w+.-]*:)?//[^\s/@:]*:|(?<![\w/])[\w.-]*:)(?P<secret>[^\s@/]+)@")
# ?password=... in a URL's query (redis-py reads password and ssl_password there).
_SECRET_KEYS = "ssl_password|sslpassword|password|passwd|pwd|pass|token|secret|auth"
_QUERY = re.compile(rf"(?P<head>[?&](?:{_SECRET_KEYS})=)(?P<secret>[^&\s;'\",]+)", re.I)
# A secret shorter than this is masked only as a whole word, not inside a longer one.
_SHORT = 8

_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None


def remember(secrets: Iterable[str | None]) -> None:
    """Secrets whose values must never show, wherever they appear: each as given, percent-decoded
    and percent-encoded. One shorter than 8 characters is masked only where it stands as a word
    of its own (``k9x`` in ``AUTH k9x``, not in ``ok9xy``)."""
    global _known_pattern
    forms = {form for secret in secrets if secret for form in (secret, unquote(secret), quote(secret, safe=""))}
    if not forms - _known:
        return
    _known.update(form for form in forms if form)
    alternatives = [
        re.escape(s) if len(s) >= _SHORT else rf"(?<![A-Za-z0-9_]){re.escape(s)}(?![A-Za-z0-9_])"
        for s in sorted(_known, key=len, reverse=True)
    ]
    _known_pattern = re.compile("|".join(alternatives))


def redact_document(value: Any) -> Any:
    """A JSON-like document (an HTTP answer) with every string value masked; keys are the kit's own."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_document(item) for item in value)
    return value


def secrets_in(url: str) -> list[str]:
    """The passwords a connection URL carries, to :func:`remember` them: an error may quote one alone.

    The forms :func:`redact` masks, plus the URL's own reading of its password and secret query
    values (whole, where a log line's form stops at a comma), each as written and percent-decoded.
    """
    patterns = (_URL_USERINFO, _BARE_USERINFO, _QUERY)
    written = [match["secret"] for pattern in patterns for match in pattern.finditer(url)]
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
    if _known_pattern is not None:
        text = _known_pattern.sub(MASK, text)
    if "@" in text:  # the userinfo forms end in "@"; skipping their scan halves the cost of a log line
        text = _URL_USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
        text = _BARE_USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m["head"] + MASK, text)
    return text


def error_summary(exc: BaseException) -> str:
    """A job's exception as the history keeps it: one line of its type and message, masked, at most 500 characters."""
    return redact(f"{type(exc).__name__}: {exc}")[:500]
