"""The readiness gate (scheduler_proc/web/ready.py): the address it checks."""

from __future__ import annotations

import pytest

from scheduler_proc.web.ready import base_url


@pytest.mark.parametrize(
    "bind, url",
    [
        (None, "http://127.0.0.1:8000"),
        ("", "http://127.0.0.1:8000"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:8080", "http://127.0.0.1:8080"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("10.0.0.5:8000", "http://10.0.0.5:8000"),
    ],
)
def test_the_readiness_gate_and_the_deploy_health_check_reach_gunicorn_where_it_binds(
    bind: str | None, url: str
) -> None:
    assert base_url(bind) == url
