"""The deploy tool (``scheduler_proc.deploy``) with its services run as plain processes instead of by systemd.

systemd is installed here but is not PID 1 (and booting it on this machine would empty
/tmp), so integration/test_deploy.py runs ``python tests/deploy_standin.py <checkout> ARGS``: the
deploy code of that checkout, with :class:`Processes` as its service manager.
The release, venv, env file, unit, health check and rollback are the real ones; `make
test-vm` runs the same deploy under a real systemd.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

# The checkout's own package, ahead of the one installed in the test venv.
sys.path.insert(0, str(Path(sys.argv[1]).resolve()))
from scheduler_proc.deploy import tool as deploy
from scheduler_proc.deploy.layout import Layout, parse_unit, read_env


class Processes:
    """A stand-in for systemd on machines where it is not PID 1.

    It runs the unit's ExecStart as the unit's user from the staged layout, with the
    env file and the RUNTIME_DIRECTORY/STATE_DIRECTORY systemd would give.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.pidfile = layout.at(f"/run/{layout.app}.service.pid")

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            with contextlib.suppress(ChildProcessError):  # started by this process: reap it if it ended
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return None
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def active(self) -> bool:
        return self._pid() is not None

    def failed(self) -> bool:
        return False  # the stand-in cannot tell a start that failed from one still on its way

    def restart(self) -> None:
        self.stop()
        unit = parse_unit(self.layout.unit.read_text())
        user = pwd.getpwnam(unit["User"])
        runtime, state = self.layout.at(f"/run/{self.layout.app}"), self.layout.state
        for directory in (runtime, state):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)
            os.chown(directory, user.pw_uid, user.pw_gid)
        env = {
            "PATH": "/usr/bin:/bin",
            "RUNTIME_DIRECTORY": str(runtime),
            "STATE_DIRECTORY": str(state),
            "HOME": str(state),
            "PYTHONDONTWRITEBYTECODE": "1",
            **read_env(self.layout.env_file),
        }
        command = unit["ExecStart"].split()
        command[0] = str(self.layout.at(command[0]))
        workdir = self.layout.at(unit["WorkingDirectory"])
        log = open(self.layout.at(f"/run/{self.layout.app}.service.log"), "ab")  # noqa: SIM115 - child keeps it
        child = subprocess.Popen(
            ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *command],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pidfile.write_text(str(child.pid))

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._pid() is not None:
            time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)

    def install(self, changed: bool) -> None:
        pass

    def disable(self) -> None:
        self.stop()

    def forget_unit(self) -> None:
        pass


if __name__ == "__main__":
    deploy._manager = lambda layout, staged: Processes(layout)
    sys.exit(deploy.main(sys.argv[2:]))
