"""After a (re)start: is the service healthy? The kit's <prefix>/livez and /readyz, and a leader in the cluster."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from scheduler_proc.deploy.layout import Layout, read_env, say
from scheduler_proc.web.ready import DEFAULT_PREFIX, base_url


def health_prefix(layout: Layout) -> str:
    """The readiness gate's ``--prefix`` in the installed unit: rollback checks what the deploy wrote."""
    text = layout.unit.read_text() if layout.unit.exists() else ""
    found = re.search(r"^ExecStartPost=.* -m scheduler_proc\.web\.ready .*--prefix (\S+)", text, re.M)
    return found[1] if found else DEFAULT_PREFIX


def health_check(layout: Layout, timeout: float, failed: Callable[[], bool] | None = None) -> str | None:
    """None when <prefix>/livez and <prefix>/readyz answer and a node of the cluster leads; else why not.

    ``failed`` says the service manager gave up on the service: no point waiting longer.
    """
    env = read_env(layout.env_file)
    base = base_url(env.get("BIND")) + health_prefix(layout)
    deadline = time.monotonic() + timeout
    reason = "no answer yet"
    token = env.get("SCHEDULER_READ_TOKEN") or env.get("SCHEDULER_ADMIN_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while time.monotonic() < deadline:
        if failed is not None and failed():
            return f"the service failed ({reason}); see journalctl -u {layout.app}"
        try:
            reason = _unhealthy(base, headers) or ""
            if not reason:
                return None
        except urllib.error.HTTPError as exc:
            reason = f"{exc.geturl()} answered {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = f"{base}: {exc}"
        time.sleep(0.5)
    return f"not healthy after {timeout:g}s: {reason}"


def _unhealthy(base: str, headers: dict[str, str]) -> str | None:
    """One look: None if healthy (said so), else why not; HTTP errors raise."""
    for path in ("livez", "readyz"):  # the kit's own endpoints, no token needed
        with urllib.request.urlopen(f"{base}/{path}", timeout=2):
            pass
    # The role of this host alone is not enough: a standby must see a leader somewhere.
    with urllib.request.urlopen(urllib.request.Request(f"{base}/status", headers=headers), timeout=2) as answer:
        status = json.load(answer)
    role, leader = status.get("role"), (status.get("cluster") or {}).get("leader_node")
    if role == "leader" or (role == "standby" and leader):
        say(
            f"healthy: {base}/livez and /readyz answer; scheduler role {role}, the cluster's leader is "
            f"{status.get('leader_node') or leader}"
        )
        return None
    return f"the scheduler's role is {role!r} and no node of the cluster leads"
