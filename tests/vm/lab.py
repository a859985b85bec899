"""One `make test-vm` test's world: a copy of the source with the VM jobs (or a separate project
that installs the kit from a wheel), a private network, its hosts and relays."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from machines import ROOT, SUBNET, Machine, Network, fires
from support import build_kit_wheel, copy_shipped, sample_project

APP = "kit"
#: How `make deploy` runs on each host: offline, from the wheels the test downloaded once.
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheelhouse"}
#: `make deploy` of the separate project (/shop on each host) with the kit's wheel from /kitwheels.
PROJECT = ["PROJECT=/shop", "ASGI=shop.main:app", "JOBS=shop.jobs:jobs", "WHEELS=/kitwheels"]


def copy_source(target: Path, jobs: Path = ROOT / "tests/vm/vm_jobs.py") -> Path:
    """The repository as a user's checkout would ship it, with the VM jobs as app/jobs.py."""
    copy_shipped(target)
    shutil.copy2(jobs, target / "app/jobs.py")
    return target


class Lab:
    """The hosts of one test, on one private network."""

    def __init__(self, work: Path, root: Path, wheels: Path, project: bool = False) -> None:
        self.work = work
        self.root = root
        self.wheels = wheels
        self.network = Network()
        self.machines: list[Machine] = []
        self.relays: list[subprocess.Popen[bytes]] = []
        self.source = copy_source(work / "src")
        self.binds = {self.source: "/src", self.wheels: "/wheelhouse"}
        # project: a user's own project "shop" (the VM jobs as shop/jobs.py, no git on the hosts),
        # and the kit as `pip wheel` builds it: what `pip install scheduler-proc` users deploy.
        self.project = sample_project(work / "shop", jobs=(ROOT / "tests/vm/vm_jobs.py").read_text(), git=False)
        if project:
            self.binds[self.project] = "/shop"
            self.binds[build_kit_wheel(work / "kitwheels", work / "kitsrc")] = "/kitwheels"

    def host(self, name: str, number: int) -> Machine:
        machine = Machine(
            name,
            f"{SUBNET}.{number}",
            self.root,
            self.work,
            self.network,
            self.binds,
        )
        (machine.root / "etc").mkdir(parents=True, exist_ok=True)
        (machine.root / "etc/hostname").write_text(f"{name}\n")
        self.machines.append(machine)
        return machine.boot()

    def make(self, machine: Machine, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """``make ARGS`` in the source, on ``machine``, as the README says (``env``: exported first); its output."""
        result = machine.run(
            ["make", "--no-print-directory", "-C", "/src", *args],
            check=False,
            env={**OFFLINE, **(env or {})},
            timeout=900,
        )
        output = result.stdout + result.stderr
        if check and result.returncode != 0:
            raise AssertionError(f"make {' '.join(args)} on {machine.name} exited {result.returncode}\n{output}")
        return output

    def fires(self) -> list[dict[str, object]]:
        return [fire for machine in self.machines for fire in fires(machine, APP)]

    def relay(self, port: int, target: str) -> Path:
        """A TCP relay on the bridge (10.77.0.1:``port``) to ``target``; returns its control file."""
        control = self.work / f"relay-{port}.json"
        control.write_text("{}")
        self.relays.append(
            subprocess.Popen(
                [
                    "ip", "netns", "exec", self.network.bridge_ns, sys.executable, str(ROOT / "tests/vm/proxy.py"),
                    "--listen", f"{SUBNET}.1:{port}", "--target", target, "--control", str(control),
                ],
                start_new_session=True,
            )
        )  # fmt: skip
        return control

    def close(self) -> None:
        for relay in self.relays:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(relay.pid, 9)
            relay.wait()
        for machine in self.machines:
            machine.close()
        self.network.close()

    def report(self) -> str:
        return "\n".join(f"===== {m.name} =====\n{m.journal(APP, 120)}" for m in self.machines)
