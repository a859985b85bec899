"""The PostgreSQL test server (tests/pg_support.py) does what the backend's tests rely on: roles,
TLS, and each fault (pause, restart, terminated connections, an older restore, read-only)."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest
from pg_support import PostgresServer, server_children, throwaway_ca
from psycopg import errors
from support import alive, wait_for

# Some tests start a server of their own (TLS, statement logging), not through the fixture.
pytestmark = pytest.mark.processes


def test_an_app_role_connects_with_its_password_and_may_use_only_its_own_schema(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.app_role("shop", "s3cret/with:odd@chars", schema="scheduler_shop")
    with psycopg.connect(url, autocommit=True) as app:
        app.execute("CREATE TABLE scheduler_shop.lease (id int)")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("CREATE TABLE public.elsewhere (id int)")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("CREATE SCHEMA another")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url.replace("s3cret", "wrong"))
    with psycopg.connect(postgres_server.url) as admin:  # the admin over TCP, with its password
        assert admin.execute("SELECT current_user").fetchone() == ("postgres",)


def test_a_role_that_does_not_own_its_schema_cannot_create_tables_in_it(postgres_server: PostgresServer) -> None:
    url = postgres_server.app_role("looker", "pw", schema_owner=False)
    with psycopg.connect(url, autocommit=True) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE TABLE looker.lease (id int)")


def test_tls_verify_full_connects_and_a_server_signed_by_another_ca_is_refused(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "pg", tls=True) as server:
        url = server.tls_url(server.app_role("app", "pw"))
        with psycopg.connect(url) as app:
            assert app.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        assert server.ca_file is not None
        other_ca = throwaway_ca(tmp_path / "other")
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
            psycopg.connect(url.replace(str(server.ca_file), str(other_ca)))


def test_a_restart_or_a_crash_keeps_what_was_committed(postgres_server: PostgresServer) -> None:
    postgres_server.psql("CREATE TABLE kept (n int)")
    postgres_server.psql("INSERT INTO kept VALUES (1)")
    postgres_server.restart()
    postgres_server.psql("INSERT INTO kept VALUES (2)")
    postgres_server.crash_restart()
    assert postgres_server.psql("SELECT n FROM kept ORDER BY n") == [(1,), (2,)]


def test_a_restore_brings_back_the_older_rows_and_the_older_sequence(postgres_server: PostgresServer) -> None:
    postgres_server.psql("CREATE SEQUENCE terms")
    postgres_server.psql("CREATE TABLE rows (n int)")
    postgres_server.psql("INSERT INTO rows SELECT nextval('terms') FROM generate_series(1, 3)")
    older = postgres_server.dump()
    postgres_server.psql("INSERT INTO rows SELECT nextval('terms') FROM generate_series(1, 3)")
    with psycopg.connect(postgres_server.url, autocommit=True) as client:
        postgres_server.restore(older)
        with pytest.raises(psycopg.OperationalError):  # its database was dropped under it
            client.execute("SELECT 1")
    assert postgres_server.psql("SELECT max(n) FROM rows") == [(3,)]
    assert postgres_server.psql("SELECT nextval('terms')") == [(4,)]  # the sequence went back too


def test_terminate_backends_cuts_off_only_the_connections_named(postgres_server: PostgresServer) -> None:
    with (
        psycopg.connect(postgres_server.url, autocommit=True, application_name="scheduler-proc/a/lease") as victim,
        psycopg.connect(postgres_server.url, autocommit=True, application_name="bystander") as bystander,
    ):
        assert postgres_server.terminate_backends("scheduler-proc/%") == 1
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)
        assert postgres_server.terminate_backends() == 1  # every client but the harness's own
        with pytest.raises(psycopg.OperationalError):
            bystander.execute("SELECT 1")


def test_read_only_refuses_writes_on_new_and_open_connections_until_turned_off(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.app_role("app", "pw")
    with psycopg.connect(url, autocommit=True) as opened:
        opened.execute("CREATE TABLE app.t (n int)")
        postgres_server.read_only()
        with pytest.raises(errors.ReadOnlySqlTransaction):
            opened.execute("INSERT INTO app.t VALUES (1)")
        with psycopg.connect(url, autocommit=True) as new, pytest.raises(errors.ReadOnlySqlTransaction):
            new.execute("INSERT INTO app.t VALUES (1)")
        postgres_server.read_only(False)
        opened.execute("INSERT INTO app.t VALUES (1)")


def test_a_paused_server_answers_no_one_until_it_is_continued(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url, autocommit=True) as client:
        backend = client.info.backend_pid
        postgres_server.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: _state(backend) == "T", 5, "the client's backend to be stopped too")
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(postgres_server.url, connect_timeout=1)
        finally:
            postgres_server.signal(signal.SIGCONT)
        assert client.execute("SELECT 1").fetchone() == (1,)


def _state(pid: int) -> str:
    """The state letter of a process (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_statements_are_counted_per_application_name(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "pg", log_statements=True) as server:
        with psycopg.connect(server.url, autocommit=True, application_name="scheduler-proc/a/lease") as a:
            a.execute("SELECT 1")
            a.execute("SELECT %s::int", (2,))  # extended protocol: one execute
            a.execute("SELECT 3;\nSELECT 4")  # one statement of two lines
        with psycopg.connect(server.url, application_name="scheduler-proc/b/lease") as b:
            b.execute("SELECT 1")  # in a transaction: BEGIN, the statement and COMMIT
        server.psql("SELECT 'the harness is not counted'")
        assert server.statements("scheduler-proc/") == {"scheduler-proc/a/lease": 3, "scheduler-proc/b/lease": 3}
        assert server.statements("scheduler-proc/b") == {"scheduler-proc/b/lease": 3}


def test_kill_after_a_kill_9_leaves_no_process_data_or_shared_memory(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg").start()
    assert server.process is not None and server.root is not None
    processes = {server.process.pid, *server_children(server.process.pid)}
    shmid = (server.data / "postmaster.pid").read_text().splitlines()[6].split()[1]
    server.signal(signal.SIGKILL)
    server.kill()
    assert not server.root.exists()
    wait_for(lambda: not any(alive(pid) for pid in processes), 10, "every process of the server to be gone")
    segments = [line.split()[1] for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    assert shmid not in segments
