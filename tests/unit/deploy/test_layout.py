"""Where a deploy puts things (scheduler_proc/deploy/layout.py): every path of an app under a root
(``/`` or DESTDIR), what the env file can carry, and the readers of unit and env files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scheduler_proc.deploy.layout import APP_NAME, DeployError, Layout, env_value, parse_unit, read_env, run_step


def test_every_path_of_an_app_is_under_the_root() -> None:
    layout = Layout(Path("/stage"), "shop")
    assert layout.current == Path("/stage/opt/shop/current") and layout.releases == Path("/stage/opt/shop/releases")
    assert layout.env_file == Path("/stage/etc/shop/env") and layout.state == Path("/stage/var/lib/shop")
    assert layout.unit == Path("/stage/etc/systemd/system/shop.service")
    assert Layout(Path("/"), "shop").previous == Path("/opt/shop/previous")


@pytest.mark.parametrize(("name", "ok"), [("shop", True), ("shop-2_b", True), ("Shop", False), ("x; rm", False)])
def test_app_names_are_plain(name: str, ok: bool) -> None:
    assert bool(APP_NAME.match(name)) is ok


@pytest.mark.parametrize("value", ["a\nSCHEDULER_X=1", 'say "hi"', "ends\\", " padded", "tab\there"])
def test_a_value_the_env_file_cannot_carry_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(DeployError, match=r"^SCHEDULER_READ_TOKEN: the value holds") as error:
        env_value("SCHEDULER_READ_TOKEN", value)
    assert value not in str(error.value)
    assert env_value("BIND", "0.0.0.0:8000") == "0.0.0.0:8000"


def test_unit_and_env_files_are_read_as_systemd_would_for_the_keys_used(tmp_path: Path) -> None:
    unit = "[Service]\n# ExecStart=/old\nExecStart=/opt/shop/current/venv/bin/gunicorn\nUser = shop\nUser=shop2\n"
    assert parse_unit(unit) == {"ExecStart": "/opt/shop/current/venv/bin/gunicorn", "User": "shop2"}
    (tmp_path / "env").write_text('# comment\n\nBIND=0.0.0.0:9000\nSCHEDULER_JOBS="shop.jobs:jobs"\n')
    assert read_env(tmp_path / "env") == {"BIND": "0.0.0.0:9000", "SCHEDULER_JOBS": "shop.jobs:jobs"}


def test_a_failing_step_names_the_command_and_its_error() -> None:
    run_step([sys.executable, "-c", "pass"], "do nothing")
    with pytest.raises(DeployError, match=r"could not fail on purpose: .* exited 3\nboom"):
        run_step([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], "fail on purpose")
