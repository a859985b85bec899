"""The deploy's health check (scheduler_proc/deploy/health.py) against a stand-in of the kit's
endpoints served by http.server in a thread: healthy only when livez and readyz answer and a node of
the cluster leads; a service that failed ends the wait at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scheduler_proc.deploy.health import health_check, health_prefix
from scheduler_proc.deploy.layout import Layout


class _Endpoints(BaseHTTPRequestHandler):
    status: ClassVar[dict[str, Any]] = {}
    seen_authorization: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        if self.path == "/scheduler/status":
            type(self).seen_authorization.append(self.headers.get("Authorization"))
            body = json.dumps(type(self).status).encode()
        elif self.path in ("/scheduler/livez", "/scheduler/readyz"):
            body = b'{"status": "ok"}'
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    """A staged app whose env file binds where the stand-in listens."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoints)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    made = Layout(tmp_path, "shop")
    made.etc.mkdir(parents=True)
    made.env_file.write_text(f"BIND=127.0.0.1:{server.server_address[1]}\nSCHEDULER_READ_TOKEN={'r' * 24}\n")
    _Endpoints.seen_authorization = []
    yield made
    server.shutdown()
    server.server_close()


def test_a_leader_is_healthy_and_the_read_token_is_sent(layout: Layout) -> None:
    _Endpoints.status = {"role": "leader", "cluster": {}}
    assert health_check(layout, 10) is None
    assert _Endpoints.seen_authorization == [f"Bearer {'r' * 24}"]


def test_a_standby_is_healthy_only_when_some_node_leads(layout: Layout) -> None:
    _Endpoints.status = {"role": "standby", "cluster": {"leader_node": "web-1"}}
    assert health_check(layout, 10) is None
    _Endpoints.status = {"role": "standby", "cluster": {}}
    assert health_check(layout, 0.3) == (
        "not healthy after 0.3s: the scheduler's role is 'standby' and no node of the cluster leads"
    )


def test_a_failed_service_ends_the_wait_at_once(layout: Layout) -> None:
    _Endpoints.status = {"role": "stopped"}
    assert health_check(layout, 60, failed=lambda: True) == (
        "the service failed (no answer yet); see journalctl -u shop"
    )


def test_the_prefix_is_the_one_the_installed_unit_checks(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    assert health_prefix(layout) == "/scheduler", "no unit yet: the default"
    layout.unit.parent.mkdir(parents=True)
    layout.unit.write_text(
        "ExecStartPost=/opt/shop/current/venv/bin/python -m scheduler_proc.web.ready --prefix /ops\n"
    )
    assert health_prefix(layout) == "/ops"
