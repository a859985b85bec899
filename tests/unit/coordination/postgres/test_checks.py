"""The PostgreSQL backend's checks at start (scheduler_proc/coordination/postgres/checks.py) on a
real server: a role that owns only its schema is enough; a read-only server, a standby and a
role without the privileges are refused, each with the fix; a server that does not answer is no
error."""

from __future__ import annotations

import pytest
from pg_support import PostgresServer, write_owned
from psycopg import sql
from store_support import postgres_settings

from scheduler_proc.coordination.postgres.checks import check_server
from scheduler_proc.errors import PostgresConfigError


def test_a_role_that_owns_only_its_schema_is_enough(postgres_server: PostgresServer) -> None:
    url = postgres_server.app_role("shop", "pw-shop")
    settings = postgres_settings(postgres_server, schema="shop", url=url)
    assert check_server(settings) and check_server(settings), "checked and migrated, then checked again"
    assert postgres_server.psql("SELECT version FROM shop.schema_version") == [(1,)]


def test_a_read_only_server_is_refused_with_the_fix(postgres_server: PostgresServer) -> None:
    postgres_server.read_only(True)
    with pytest.raises(PostgresConfigError, match=r"default_transaction_read_only is on.*ALTER ROLE"):
        check_server(postgres_settings(postgres_server))


def test_a_standby_in_recovery_is_refused_with_the_fix(postgres_server: PostgresServer) -> None:
    write_owned(postgres_server.data / "standby.signal", "")  # starts in recovery, a standby without a primary
    postgres_server.restart()
    with pytest.raises(PostgresConfigError, match=r"is a standby in recovery.*target_session_attrs=read-write"):
        check_server(postgres_settings(postgres_server))


def test_a_role_that_may_not_create_its_schema_is_told_what_to_grant(postgres_server: PostgresServer) -> None:
    postgres_server.app_role("other", "pw-other")  # revokes CREATE on the database from PUBLIC
    postgres_server.psql("CREATE ROLE shop LOGIN PASSWORD 'pw-shop'")
    url = f"postgresql://shop:pw-shop@127.0.0.1:{postgres_server.port}/scheduler"
    with pytest.raises(PostgresConfigError, match='CREATE SCHEMA "shop_jobs" AUTHORIZATION "shop"'):
        check_server(postgres_settings(postgres_server, schema="shop_jobs", url=url))


def test_a_role_that_does_not_own_its_schema_is_told_to_take_it(postgres_server: PostgresServer) -> None:
    url = postgres_server.app_role("shop", "pw-shop", schema_owner=False)
    with pytest.raises(PostgresConfigError, match='ALTER SCHEMA "shop" OWNER TO "shop"'):
        check_server(postgres_settings(postgres_server, schema="shop", url=url))
    assert postgres_server.psql(
        sql.SQL("SELECT count(*) FROM pg_tables WHERE schemaname = {}").format(sql.Literal("shop")).as_string()
    ) == [(0,)]


def test_a_server_that_does_not_answer_is_no_error_and_is_checked_again_later(postgres_server: PostgresServer) -> None:
    settings = postgres_settings(postgres_server)
    postgres_server.kill()
    assert check_server(settings) is False
