"""What runs the service (scheduler_proc/deploy/services.py): a staged install starts nothing and
says so, and systemd is refused with the fix on a machine where it is not PID 1. The real
systemctl calls run under systemd in `make test-vm`."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler_proc.deploy.layout import DeployError
from scheduler_proc.deploy.services import ServiceManager, Staged, Systemd


def test_a_staged_install_is_never_running_and_starts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    manager: ServiceManager = Staged()  # mypy checks that it has everything deploy asks for
    manager.install(changed=True)
    manager.restart()
    manager.stop()
    manager.disable()
    manager.forget_unit()
    assert (manager.active(), manager.failed()) == (False, False)
    assert capsys.readouterr().out == "deploy: staged only: not starting the service\n"


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd is PID 1 here")
def test_without_systemd_as_pid_1_deploy_says_to_stage_instead() -> None:
    with pytest.raises(DeployError, match=r"systemd is not running on this machine .*use DESTDIR=<dir> to stage"):
        Systemd("shop")


@pytest.mark.processes  # systemctl, asking only about a unit that does not exist
@pytest.mark.skipif(not Path("/run/systemd/system").is_dir(), reason="systemd is not PID 1 here")
def test_with_systemd_as_pid_1_the_manager_is_for_the_apps_unit() -> None:
    manager: ServiceManager = Systemd("kit-unit-test-no-such-unit")
    assert (manager.active(), manager.failed()) == (False, False)
