"""``python -m scheduler_proc.web.ready``: wait until the service answers, for systemd's ExecStartPost.

gunicorn tells systemd it is ready before any worker has booted, so "started" would not
mean "serving". The unit runs this after the start: it polls ``<prefix>/livez`` (the kit's
router, ``--prefix``, default ``/scheduler``) until it answers 200, then creates
``SCHEDULER_READY_FILE`` (until then the scheduler dispatches nothing), then polls
``<prefix>/readyz`` until it answers 200 (this host's scheduler reports its role). Neither
needs a token, and nothing of the user's app (no ``/healthz``) is relied on. Exit 0 when
both hold; 1 (the unit fails, and is not restarted for ever: StartLimitBurst) when the web
side answered only errors for ``--unhealthy`` seconds, or nothing held within
``--timeout``. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Where gunicorn.conf.py binds when BIND is unset or empty.
DEFAULT_BIND = "127.0.0.1:8000"
#: Where the app mounts the kit's router (``app.include_router(scheduler_router(), prefix=...)``).
DEFAULT_PREFIX = "/scheduler"
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def parse_prefix(raw: str) -> str:
    """A URL path prefix such as ``/scheduler`` (``argparse`` type); deploy's --health-prefix uses it too."""
    if not _PREFIX.match(raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not the path the kit's router is mounted at; use one such as /scheduler "
            "(a leading /, no trailing /, letters, digits, '.', '_', '~' or '-')"
        )
    return raw


def base_url(bind: str | None) -> str:
    """Where a request from this host reaches gunicorn bound at ``bind`` (host:port, IPv6 in brackets).

    A wildcard address is reached on loopback; deploy.py's health check uses this too.
    """
    host, _, port = (bind or DEFAULT_BIND).rpartition(":")
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '[::]') else host}:{port}"


def _get(url: str) -> tuple[int, bytes]:
    token = os.environ.get("SCHEDULER_READ_TOKEN") or os.environ.get("SCHEDULER_ADMIN_TOKEN")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_ready(base: str, ready_file: Path | None, timeout: float, unhealthy: float) -> str | None:
    """None once ``base/livez`` answers and then ``base/readyz`` does (``base`` ends with the prefix); else why not."""
    deadline, failing_since, reason = time.monotonic() + timeout, None, "no answer"
    while time.monotonic() < deadline:
        status, _ = _get(f"{base}/livez")
        if status == 200:
            break
        if status >= 500:  # workers up, app broken: give up soon, do not wait the whole timeout
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > unhealthy:
                return f"{base}/livez answered {status} for {unhealthy:g}s"
        reason = f"{base}/livez answered {status}" if status else f"{base}/livez does not answer"
        time.sleep(0.25)
    else:
        return f"{reason} after {timeout:g}s"
    if ready_file is not None:
        ready_file.touch(mode=0o600)
    while time.monotonic() < deadline:
        status, _ = _get(f"{base}/readyz")
        if status == 200:
            return None
        # 503 is "not yet" here (the scheduler has no role yet), not a broken app.
        reason = f"{base}/readyz answered {status or 'nothing'}"
        time.sleep(0.25)
    return f"{reason} after {timeout:g}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler_proc.web.ready", description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait in all (default 90)")
    parser.add_argument(
        "--unhealthy", type=float, default=10.0, help="seconds of 5xx answers that fail it (default 10)"
    )
    parser.add_argument(
        "--prefix",
        type=parse_prefix,
        default=DEFAULT_PREFIX,
        help="where the app mounts the kit's router: polls PREFIX/livez, then PREFIX/readyz (default /scheduler)",
    )
    args = parser.parse_args(argv)
    ready = os.environ.get("SCHEDULER_READY_FILE")
    base = base_url(os.environ.get("BIND")) + args.prefix
    problem = wait_ready(base, Path(ready) if ready else None, args.timeout, args.unhealthy)
    if problem:
        print(f"not ready: {problem}", file=sys.stderr)
        return 1
    print("ready: the web side answers and the scheduler reports its role", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
