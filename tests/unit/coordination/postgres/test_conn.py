"""PostgreSQL connections (scheduler_proc/coordination/postgres/conn.py) against a real server: TLS
verified, refusals told apart from outages with the fix, the password never shown, and a connection
the server cut is replaced on the next call."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from pg_support import PostgresServer, throwaway_ca

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.errors import PostgresConfigError, PostgresUnavailable
from scheduler_proc.redact import redact
from scheduler_proc.settings import PostgresSettings, Settings


def _settings(url: str, **env: str) -> PostgresSettings:
    settings = Settings.from_env({"SCHEDULER_POSTGRES_URL": url, "SCHEDULER_LEASE_TTL": "2", **env})
    assert settings.postgres is not None
    return settings.postgres


def _one(client: Client) -> int:
    return int(client.run(lambda conn: conn.execute("SELECT 1").fetchone())[0])  # type: ignore[index]


def test_tls_with_verify_full_connects_and_another_ca_is_refused_with_the_fix(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "tls", tls=True) as server:
        client = Client(_settings(server.tls_url(server.url)))
        assert _one(client) == 1
        ssl = client.run(
            lambda conn: conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        )
        assert ssl == (True,)
        client.close()
        other_ca = throwaway_ca(tmp_path / "other", "another-ca")
        url = f"{server.url}?sslmode=verify-full&sslrootcert={other_ca}"
        with pytest.raises(PostgresConfigError, match=r"TLS to PostgreSQL at .* failed .*sslrootcert=/path/ca.pem"):
            _one(Client(_settings(url)))


def test_a_wrong_password_is_a_refusal_that_names_the_fix_and_never_the_password(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url.replace(postgres_server.password, "Wr0ng-Secret-xyz")
    with pytest.raises(PostgresConfigError) as error:
        _one(Client(_settings(url)))
    message = str(error.value)
    assert "refused the login" in message and "SCHEDULER_POSTGRES_PASSWORD" in message
    assert "Wr0ng-Secret-xyz" not in redact(message) and "Wr0ng-Secret-xyz" not in message


def test_the_password_variable_wins_and_the_url_needs_none(postgres_server: PostgresServer) -> None:
    bare = postgres_server.url.replace(f":{postgres_server.password}", "")
    settings = _settings(bare, SCHEDULER_POSTGRES_PASSWORD=postgres_server.password)
    assert _one(Client(settings)) == 1


def test_a_server_that_is_down_is_unavailable_not_refused(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "down")  # its port chosen, nothing listening
    with pytest.raises(
        PostgresUnavailable, match=r"PostgreSQL at postgresql://postgres:\*\*\*@127.0.0.1:\d+/\w+ is unreachable"
    ):
        _one(Client(_settings(server.url)))


def test_a_connection_the_server_cut_fails_once_then_the_next_call_reconnects(postgres_server: PostgresServer) -> None:
    client = Client(_settings(postgres_server.url), application_name="scheduler-proc/test/cut")
    assert _one(client) == 1
    assert postgres_server.terminate_backends("scheduler-proc/test/cut") == 1
    with pytest.raises(PostgresUnavailable):
        _one(client)
    assert _one(client) == 1
    client.close()


def test_each_thread_has_its_own_connection_and_close_ends_them_all(postgres_server: PostgresServer) -> None:
    client = Client(_settings(postgres_server.url), application_name="scheduler-proc/test/threads")
    pids: list[int] = []

    def backend_pid() -> None:
        pids.append(client.run(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone())[0])  # type: ignore[index]

    threads = [threading.Thread(target=backend_pid) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 3
    client.close()
    left = postgres_server.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'scheduler-proc/test/threads'"
    )
    assert left == [(0,)]


def test_a_statement_longer_than_the_timeout_is_cut_by_the_server(postgres_server: PostgresServer) -> None:
    settings = dataclasses.replace(_settings(postgres_server.url), lease_ttl=1.0)  # a 0.25 s statement timeout
    client = Client(settings)
    with pytest.raises(PostgresUnavailable, match="statement timeout"):
        client.run(lambda conn: conn.execute("SELECT pg_sleep(2)"))
    assert _one(client) == 1
