"""What runs the service: systemd on the machine, or nothing when the install is only staged (DESTDIR)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Protocol

from scheduler_proc.deploy.layout import DeployError, say


class ServiceManager(Protocol):
    """What deploy needs from whatever runs the service: systemd, or nothing when staged."""

    def active(self) -> bool:
        """The service runs (or is starting)."""
        ...

    def failed(self) -> bool:
        """The service failed, or waits to be restarted after a failure."""
        ...

    def restart(self) -> None:
        """(Re)start it now, clearing any start-limit count first."""
        ...

    def stop(self) -> None:
        """Stop it and wait (its jobs get their stop grace)."""
        ...

    def install(self, changed: bool) -> None:
        """Register and enable the unit; reload the manager's view if the unit ``changed``."""
        ...

    def disable(self) -> None:
        """Stop it and keep it from starting at boot."""
        ...

    def forget_unit(self) -> None:
        """After the unit file is deleted: make the manager forget it."""
        ...


class Systemd:
    """The real thing: systemctl on a machine where systemd is PID 1."""

    def __init__(self, app: str) -> None:
        self.app = app
        if not Path("/run/systemd/system").is_dir():
            raise DeployError(
                "systemd is not running on this machine (PID 1 is not systemd); "
                "use DESTDIR=<dir> to stage the install for review instead"
            )

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], check=check, capture_output=True, text=True)

    def active(self) -> bool:
        return self._ctl("is-active", "--quiet", self.app, check=False).returncode == 0

    def failed(self) -> bool:
        """Failed, or waiting to be restarted after a failure: either way this release is not healthy."""
        state = self._ctl("show", self.app, "--property=ActiveState,SubState", check=False).stdout
        return "ActiveState=failed" in state or "SubState=auto-restart" in state

    def restart(self) -> None:
        # reset-failed: a rollback right after a release hit the start limit must still start.
        self._ctl("reset-failed", self.app, check=False)
        self._ctl("restart", self.app, check=False)  # it waits for ExecStartPost; the health check judges

    def stop(self) -> None:
        self._ctl("stop", self.app, check=False)

    def install(self, changed: bool) -> None:
        if changed:
            self._ctl("daemon-reload")
        self._ctl("enable", self.app)

    def disable(self) -> None:
        self._ctl("disable", self.app, check=False)

    def forget_unit(self) -> None:
        """After the unit file is gone: systemd forgets the unit."""
        self._ctl("daemon-reload", check=False)


class Staged:
    """DESTDIR without a service: nothing is started; the install is for review."""

    def active(self) -> bool:
        return False

    def failed(self) -> bool:
        return False

    def restart(self) -> None:
        say("staged only: not starting the service")

    def stop(self) -> None:
        pass

    def install(self, changed: bool) -> None:
        pass

    def disable(self) -> None:
        pass

    def forget_unit(self) -> None:
        pass
