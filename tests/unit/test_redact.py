"""Masking secrets (scheduler_proc/redact.py): every known value, every length, as written and decoded;
users' own key=value text left alone."""

from __future__ import annotations

import pytest

from scheduler_proc.errors import SettingsError
from scheduler_proc.redact import redact
from scheduler_proc.settings import Settings


@pytest.mark.parametrize(
    "url, password",
    [
        ("redis://u:p@ssword123@h/0", "p@ssword123"),  # '@' in the password: its tail showed
        ("redis://:ab/cd+ef==@h/0", "ab/cd+ef=="),  # base64 with '/': "the URL has no host" showed it whole
        ("redis://u:q7@h/0", "q7"),  # under 8 characters
        ("rediss://u:p%2Fw%40d@h/0", "p/w@d"),  # percent-encoded in the URL
    ],
)
def test_a_url_password_never_shows_in_any_form(url: str, password: str) -> None:
    from urllib.parse import quote

    try:
        settings = Settings.from_env({"SCHEDULER_REDIS_URL": url})
        target = settings.redis.target if settings.redis else ""
    except SettingsError as exc:  # the error message is what must not show it
        target = str(exc)
    for form in (password, quote(password, safe="")):
        line = f"AUTH {form} rejected; url {url}; target {target}"
        assert form not in redact(line), redact(line)
        assert form not in target, target


def test_the_redis_target_shows_the_host_but_not_a_password_with_an_at_sign() -> None:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": "redis://u:p@ssword123@h/0"})
    assert settings.redis is not None
    assert settings.redis.target == "redis://u:***@h/0"


def test_short_secrets_are_masked_as_whole_words() -> None:
    Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1/0", "SCHEDULER_REDIS_PASSWORD": "k9x"})
    assert redact("job printed k9x and 'k9x'") == "job printed *** and '***'"
    assert redact("ok9xy stays") == "ok9xy stays"  # part of a longer word: not this secret


def test_users_own_key_value_lines_are_left_alone() -> None:
    line = "fencing token=41 for job sync; password=not-a-known-one; secret=42"
    assert redact(line) == line


def test_a_token_in_a_users_line_is_masked_when_it_is_a_known_secret() -> None:
    token = "adm1n-t0ken-0123456789"
    Settings.from_env({"SCHEDULER_ADMIN_TOKEN": token})
    assert redact(f"calling with token={token}") == "calling with token=***"


def test_the_value_of_a_misspelt_secret_variable_is_masked_too() -> None:
    """Under SCHEDULER_ALLOW_UNKNOWN a misspelt token only warns; its value must not show either."""
    token = "misspelt-adm1n-t0ken-42"
    Settings.from_env({"SCHEDULER_ADMN_TOKEN": token, "SCHEDULER_ALLOW_UNKNOWN": "true"})
    assert redact(f"job prints {token}") == "job prints ***"


@pytest.mark.parametrize(
    "url, password",
    [
        ("redis://app:pa:ss-w0rd-1@redis.internal:6379/0", "pa:ss-w0rd-1"),  # ':' is allowed in a password
        ("unix:///run/redis.sock?db=0&password=s0cket-secret", "s0cket-secret"),
        ("redis://redis.internal/0?password=abc,defghijk", "abc,defghijk"),  # a log line's form stops at ','
        ("redis://app:p%40ss-w0rd-9@redis.internal/0", "p@ss-w0rd-9"),  # percent-encoded in the URL
        ("rediss://redis.internal/0?ssl_password=key-file-pass", "key-file-pass"),
    ],
)
def test_a_url_password_is_masked_wherever_it_shows_not_only_inside_the_url(url: str, password: str) -> None:
    """An error may quote the password alone (AUTH failed for ...); the whole value is remembered."""
    from scheduler_proc.redact import redact

    Settings.from_env({"SCHEDULER_REDIS_URL": url})
    line = f"AUTH {password} rejected; url {url}"
    assert password not in redact(line) and "pa:" not in redact(line) and "abc," not in redact(line), redact(line)


def test_a_libpq_sslpassword_in_a_url_is_masked() -> None:
    from scheduler_proc.redact import redact

    shown = redact("postgresql://app@db/x?sslmode=verify-full&sslpassword=KeyPass-123456")
    assert "KeyPass-123456" not in shown and "sslmode=verify-full" in shown
