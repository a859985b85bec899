"""POSTGRES=<url> (scheduler_proc/deploy/postgres.py) on layouts staged under tmp_path: the URL
taken apart as libpq reads it, the env file pointed at it with the password apart and once, one
store only, the addresses the unit may allow, and the extra the release's venv gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import ROOT

from scheduler_proc.deploy.layout import DeployError, Layout, read_env
from scheduler_proc.deploy.postgres import (
    _extra_of,
    check_one_store,
    parse_url,
    point_at_postgres,
    postgres_peers,
    uses_postgres,
)


def _layout(tmp_path: Path, env: str = "BIND=127.0.0.1:8000\n") -> Layout:
    layout = Layout(tmp_path, "shop")
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text(env)
    return layout


def test_a_postgres_url_goes_to_the_env_file_with_its_password_apart_and_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = _layout(tmp_path)
    url = "postgresql://shop:p%40ss:w@10.0.0.5:5432/app?sslmode=verify-full&sslrootcert=/etc/shop/ca.pem"
    assert point_at_postgres(layout, url) is True
    env = read_env(layout.env_file)
    assert env["SCHEDULER_POSTGRES_URL"] == (
        "postgresql://shop@10.0.0.5:5432/app?sslmode=verify-full&sslrootcert=/etc/shop/ca.pem"
    )
    assert env["SCHEDULER_POSTGRES_PASSWORD"] == "p@ss:w"
    assert uses_postgres(env)
    said = capsys.readouterr().out
    assert "p@ss" not in said and "p%40ss" not in said and "postgresql://shop@10.0.0.5:5432/app" in said
    # Written once, like the file: a later deploy with another URL leaves it (and says so).
    assert point_at_postgres(layout, "postgresql://other@10.0.0.9/app") is False
    assert read_env(layout.env_file)["SCHEDULER_POSTGRES_URL"].startswith("postgresql://shop@10.0.0.5:5432/app")
    assert "leaving it as it is" in capsys.readouterr().out


def test_a_password_given_as_a_parameter_goes_apart_too(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    point_at_postgres(layout, "postgres://shop@[fd00::5]:6432/app?password=s%26cret&application_name=x")
    env = read_env(layout.env_file)
    assert env["SCHEDULER_POSTGRES_URL"] == "postgres://shop@[fd00::5]:6432/app?application_name=x"
    assert env["SCHEDULER_POSTGRES_PASSWORD"] == "s&cret"


def test_a_postgres_url_without_a_password_writes_none(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    point_at_postgres(layout, "postgresql:///app?host=/run/postgresql")
    env = read_env(layout.env_file)
    assert env["SCHEDULER_POSTGRES_URL"] == "postgresql:///app?host=/run/postgresql"
    assert "SCHEDULER_POSTGRES_PASSWORD" not in env


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5/app", r"^POSTGRES must be a PostgreSQL URL such as postgresql://"),
        ("postgresql:/10.0.0.5/app", r"^POSTGRES must be a PostgreSQL URL"),
        ("postgresql://u:secret word@10.0.0.5/app", r"^POSTGRES must be a PostgreSQL URL"),
        ("postgresql://u:secret@[fd00::5/app", r"^POSTGRES: a host of the URL is not host\[:port\]"),
        ("postgresql://u:secret@10.0.0.5:0/app", r"^POSTGRES: a host of the URL is not host\[:port\]"),
        ("postgresql://u:secret@10.0.0.5:54x/app", r"^POSTGRES: a host of the URL is not host\[:port\]"),
        ("postgresql://u:secret@10.0.0.5/app?password=other", r"^POSTGRES: two different passwords"),
        ("postgresql://u:secret@10.0.0.5/app#secret", r"^POSTGRES: a #fragment"),
        ("postgresql://u:secret%0A@10.0.0.5/app", r"^POSTGRES: the URL's password holds a control character"),
        ("postgresql://u%22secret@10.0.0.5/app", r"^POSTGRES: the URL's user name holds a control character"),
    ],
)
def test_a_url_deploy_cannot_write_as_libpq_reads_it_is_refused_without_showing_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        parse_url(url)
    assert "secret" not in str(error.value)


def test_several_hosts_and_their_ports_are_kept_as_written() -> None:
    parsed = parse_url("postgresql://u:pw@10.0.0.5:5432,10.0.0.6:5433/app?target_session_attrs=read-write")
    assert parsed.hosts == ("10.0.0.5:5432", "10.0.0.6:5433") and parsed.password == "pw"
    assert parsed.url == "postgresql://u@10.0.0.5:5432,10.0.0.6:5433/app?target_session_attrs=read-write"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("SCHEDULER_REDIS_URL=redis://10.0.0.5:6379/0\n", r"points at Redis \(SCHEDULER_REDIS_URL\)"),
        ("SCHEDULER_REDIS_SENTINELS=10.0.0.7:26379\n", r"points at Redis \(SCHEDULER_REDIS_SENTINELS\)"),
    ],
)
def test_postgres_is_refused_for_an_env_file_on_redis(tmp_path: Path, env: str, message: str) -> None:
    layout = _layout(tmp_path, env)
    with pytest.raises(DeployError, match=rf"^POSTGRES= given, but .*{message}; .* remove the Redis lines"):
        check_one_store(layout, "", "postgresql://u@10.0.0.5/app")
    check_one_store(layout, "redis://10.0.0.9:6379/0", "")  # Redis again: the file's own store


def test_redis_is_refused_for_an_env_file_on_postgres(tmp_path: Path) -> None:
    layout = _layout(tmp_path, "SCHEDULER_POSTGRES_URL=postgresql://u@10.0.0.5/app\n")
    for redis in ("local", "redis://10.0.0.9:6379/0"):
        with pytest.raises(DeployError, match=r"^REDIS= given, but .* points at PostgreSQL"):
            check_one_store(layout, redis, "")
    check_one_store(layout, "", "postgresql://u@10.0.0.5/app")
    check_one_store(Layout(tmp_path / "fresh", "shop"), "local", "")  # no env file yet


@pytest.mark.parametrize(
    ("url", "peers", "why"),
    [
        ("postgresql://u@127.0.0.1:5432/app", [], ""),
        ("postgresql:///app", [], ""),  # libpq's default: the local unix socket
        ("postgresql:///app?host=/run/postgresql", [], ""),
        ("postgresql://u@%2Frun%2Fpostgresql/app", [], ""),
        ("postgresql://u@10.0.0.5:5432,[fd00::6]:5433/app", ["10.0.0.5", "fd00::6"], ""),
        ("postgresql://u@db.internal/app?hostaddr=10.0.0.5", ["10.0.0.5"], ""),  # the name is for TLS only
        ("postgresql://u@db.internal/app", None, "names the host 'db.internal', whose address may change"),
        ("postgresql://u@10.0.0.5/app?host=db.internal", None, "names the host 'db.internal'"),
    ],
)
def test_the_addresses_a_postgres_url_connects_to(url: str, peers: list[str] | None, why: str) -> None:
    found, reason = postgres_peers(url)
    assert found == peers and why in reason


def test_the_extra_comes_from_the_kits_pyproject_and_a_checkout_without_it_is_refused(tmp_path: Path) -> None:
    assert _extra_of(ROOT / "pyproject.toml") == ["psycopg[binary]>=3.2,<4"]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "scheduler-proc"\n')
    with pytest.raises(DeployError, match=re.escape("names no 'postgres' extra: this checkout of the kit predates")):
        _extra_of(tmp_path / "pyproject.toml")
