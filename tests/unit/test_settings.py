"""Settings from the environment (scheduler_proc/settings.py): defaults, every problem at once, unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler_proc.errors import SettingsError
from scheduler_proc.settings import Settings, start_warnings, unknown_variable_warnings


def test_settings_defaults_and_every_problem_reported_at_once() -> None:
    settings = Settings.from_env({"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1"})
    assert settings.jobs_ref == "app.jobs:jobs" and settings.stop_grace is None
    assert settings.lock_path == Path("/run/user/1/scheduler_proc/scheduler.lock")
    assert settings.state_dir == Path("/home/u/.local/state/scheduler_proc")
    systemd = Settings.from_env({"RUNTIME_DIRECTORY": "/run/app", "STATE_DIRECTORY": "/var/lib/app"})
    assert systemd.lock_dir == Path("/run/app") and systemd.state_dir == Path("/var/lib/app")
    with pytest.raises(SettingsError) as error:
        Settings.from_env(
            {"SCHEDULER_MISFIRE_GRACE": "-1", "SCHEDULER_LOCK_DIR": "relative", "SCHEDULER_ENABLED": "maybe"}
        )
    text = str(error.value)
    assert "SCHEDULER_MISFIRE_GRACE='-1'" in text and "SCHEDULER_LOCK_DIR='relative'" in text
    assert "SCHEDULER_ENABLED='maybe' is invalid: use true or false" in text


def test_unknown_variables_get_a_did_you_mean() -> None:
    warnings = unknown_variable_warnings({"SCHEDULER_JOB": "x", "SCHEDULER_ZZZZZZZZZZZZ": "y", "OTHER": "z"})
    assert warnings[0] == "unknown setting SCHEDULER_JOB is ignored; did you mean SCHEDULER_JOBS?"
    assert "known variables:" in warnings[1]


def test_an_unknown_variable_stops_the_start_unless_allowed() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SCHEDULER_READ_TOKN": "r" * 20})
    assert str(error.value) == (
        "unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN? (fix the name, or set "
        "SCHEDULER_ALLOW_UNKNOWN=true to only warn about variables this version does not know)"
    )
    env = {"SCHEDULER_READ_TOKN": "r" * 20, "SCHEDULER_ALLOW_UNKNOWN": "true"}
    assert start_warnings(Settings.from_env(env), env) == [
        "unknown setting SCHEDULER_READ_TOKN is ignored; did you mean SCHEDULER_READ_TOKEN?"
    ]


def test_a_postgres_url_turns_cluster_mode_on_with_its_schema_per_namespace() -> None:
    settings = Settings.from_env(
        {"SCHEDULER_POSTGRES_URL": "postgresql://app:pw-in-url@db:5432/shop", "SCHEDULER_JOBS": "shop.jobs:jobs"}
    )
    assert settings.cluster and settings.redis is None and settings.postgres is not None
    assert settings.postgres.schema == "scheduler_shop" and settings.lease_ttl == 10.0
    assert settings.postgres.target == "postgresql://app:***@db:5432/shop" and "pw-in-url" not in repr(settings)
    assert settings.misfire_grace == 30.0  # a cluster's default, as on Redis
    named = Settings.from_env({"SCHEDULER_POSTGRES_URL": "postgres://db/x", "SCHEDULER_NAMESPACE": "Shop-EU.2"})
    assert named.postgres is not None and named.postgres.schema == "scheduler_shop_eu_2"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SCHEDULER_POSTGRES_URL": "postgresql://db/x", "SCHEDULER_REDIS_URL": "redis://r:6379/0"},
            "SCHEDULER_POSTGRES_URL and the Redis settings (SCHEDULER_REDIS_URL or SCHEDULER_REDIS_SENTINELS) are "
            "both set; the cluster coordinates through one store: remove one of them",
        ),
        (
            {"SCHEDULER_POSTGRES_URL": "postgresql://db/x", "SCHEDULER_REDIS_MIN_REPLICAS": "1"},
            "SCHEDULER_REDIS_MIN_REPLICAS is set but the cluster coordinates through PostgreSQL "
            "(SCHEDULER_POSTGRES_URL); remove it",
        ),
        (
            {"SCHEDULER_POSTGRES_SCHEMA": "mine"},
            "SCHEDULER_POSTGRES_SCHEMA is set but SCHEDULER_POSTGRES_URL is not; set it (cluster mode on PostgreSQL), "
            "or remove it",
        ),
        (
            {"SCHEDULER_POSTGRES_URL": "mysql://u:hunter2@db/x"},
            "SCHEDULER_POSTGRES_URL='mysql://u:***@db/x' is invalid: use postgresql://user@host:5432/dbname",
        ),
        (
            {"SCHEDULER_POSTGRES_URL": "postgresql://db/x", "SCHEDULER_POSTGRES_SCHEMA": "pg_mine"},
            "SCHEDULER_POSTGRES_SCHEMA='pg_mine' is invalid: use a lowercase PostgreSQL name",
        ),
    ],
    ids=["both stores", "a redis setting", "schema alone", "bad scheme", "reserved schema"],
)
def test_bad_postgres_settings_say_which_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert message in str(error.value)
    assert "hunter2" not in str(error.value)
