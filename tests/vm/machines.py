"""VM-like hosts for `make test-vm`: Debian 12 containers booted by systemd-nspawn, each in a network
namespace of its own, joined by a bridge in another namespace the test creates.

Nothing here boots systemd, or runs systemctl, on the machine itself: every command a test
runs "on a host" goes through :meth:`Machine.run`, which refuses any target that is not a
systemd PID 1 in a PID and mount namespace other than ours.

- :func:`rootfs` builds (once, cached outside the repository) a minimal Debian 12 root with
  mmdebstrap, from the mirror this machine's apt sources name (Redis and PostgreSQL included,
  neither started at boot).
- :func:`wheelhouse` downloads the pinned requirements once, so the hosts install offline.
- :class:`Network` is the bridge (10.77.0.1) and one namespace per host, linked by veth pairs.
- :class:`Machine` is one host: an overlay over the shared root (its own writes survive a
  poweroff, so a "reboot" keeps its disk), booted with ``--network-namespace-path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from support import wait_for

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KIT_TEST_VM_CACHE", "/var/cache/kit-test-vm"))
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-venv",
    "make",
    "redis-server",
    "postgresql",
    "iproute2",
    "procps",
    "curl",
]
SUBNET = "10.77.0"


def run(
    command: list[str], timeout: float = 600, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """A host command; on failure the error carries its output."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


# -- what the hosts are made of ---------------------------------------------------------------------


def mirror() -> str:
    """The Debian mirror this machine's apt sources use (deb822 or one-line format)."""
    texts = [p.read_text() for p in Path("/etc/apt").glob("sources.list.d/*.sources")]
    for text in texts:
        for block in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b", block, re.M) and "security" not in block:
                match = re.search(r"^URIs:\s*(\S+)", block, re.M)
                if match:
                    return match[1]
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt").glob("sources.list.d/*.list")]:
        if path.exists():
            match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", path.read_text(), re.M)
            if match:
                return match[1]
    raise RuntimeError("no bookworm mirror in this machine's apt sources; cannot build the hosts' root")


def rootfs() -> Path:
    """A minimal Debian 12 root with systemd, Python, Redis and PostgreSQL, built once and cached."""
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    target = CACHE / f"rootfs-bookworm-{key}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f".building-{uuid.uuid4().hex[:8]}"
    print(f"test-vm: building a Debian 12 root in {target} (mmdebstrap, a few minutes, once)", file=sys.stderr)
    run(
        [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            # Services the test starts itself: no redis-server or PostgreSQL at boot unless a test enables it.
            "--customize-hook=chroot $1 systemctl disable redis-server.service postgresql.service",
            "--customize-hook=chroot $1 systemctl mask systemd-networkd-wait-online.service getty@tty1.service",
            "bookworm",
            str(building),
            mirror(),
        ],
        timeout=1800,
    )
    (building / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target


def wheelhouse() -> Path:
    """The pinned requirements as wheels (downloaded once), so the hosts install without a network."""
    lock = (ROOT / "requirements.lock").read_bytes()
    target = CACHE / f"wheels-{hashlib.sha256(lock).hexdigest()[:12]}"
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            "manylinux2014_x86_64",
            "--dest",
            str(target),
            "-r",
            str(ROOT / "requirements.lock"),
        ]
    )
    (target / ".complete").write_text("ok\n")
    return target


# -- the network ------------------------------------------------------------------------------------


class Network:
    """A bridge in a namespace of its own (10.77.0.1), and a namespace per host linked to it."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.bridge_ns = f"kvm-br-{self.tag}"
        self.namespaces: list[str] = []
        run(["ip", "netns", "add", self.bridge_ns])
        self.ip_br("link", "set", "lo", "up")
        self.ip_br("link", "add", "br0", "type", "bridge")
        self.ip_br("addr", "add", f"{SUBNET}.1/24", "dev", "br0")
        self.ip_br("link", "set", "br0", "up")

    def ip_br(self, *args: str) -> None:
        run(["ip", "-n", self.bridge_ns, *args])

    @staticmethod
    def ip_ns(namespace: str, *args: str) -> None:
        """``ip ARGS`` in one host's namespace (a route, a link): its network, seen from outside."""
        run(["ip", "-n", namespace, *args])

    def host_namespace(self, name: str, address: str) -> str:
        """A namespace for one host, its eth0 (``address``) on the bridge."""
        namespace = f"kvm-{name}-{self.tag}"
        run(["ip", "netns", "add", namespace])
        self.namespaces.append(namespace)
        peer = f"b{len(self.namespaces)}-{self.tag}"
        self.ip_br("link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        self.ip_br("link", "set", peer, "master", "br0", "up")
        for args in (
            ["link", "set", "lo", "up"],
            ["addr", "add", f"{address}/24", "dev", "eth0"],
            ["link", "set", "eth0", "up"],
            ["route", "add", "default", "via", f"{SUBNET}.1"],
        ):
            run(["ip", "-n", namespace, *args])
        return namespace

    def curl(self, url: str, timeout: float = 3) -> tuple[int, str]:
        """GET ``url`` from the bridge's namespace (outside every host): (status, body); 0 if no answer."""
        result = run(
            ["ip", "netns", "exec", self.bridge_ns, "curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}", url],
            check=False,
            timeout=timeout + 5,
        )
        body, _, status = result.stdout.rpartition("\n")
        return (int(status) if status.isdigit() else 0), body

    def close(self) -> None:
        for namespace in [*self.namespaces, self.bridge_ns]:
            run(["ip", "netns", "del", namespace], check=False)


# -- a host ----------------------------------------------------------------------------------------------


class Machine:
    """One VM-like host: its own disk (an overlay), network namespace, hostname and systemd."""

    def __init__(
        self, name: str, address: str, root: Path, work: Path, network: Network, binds: dict[Path, str]
    ) -> None:
        self.name = name
        self.address = address
        self.network = network
        self.namespace = network.host_namespace(name, address)
        self.dir = work / name
        for part in ("upper", "work", "merged"):
            (self.dir / part).mkdir(parents=True, exist_ok=True)
        self.root = self.dir / "merged"
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={root},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
                str(self.root),
            ]
        )
        self.binds = binds
        self.process: subprocess.Popen[bytes] | None = None
        self.console = self.dir / "console.log"

    # -- power -------------------------------------------------------------------------------------
    def boot(self, timeout: float = 60) -> Machine:
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        command = [
            "systemd-nspawn",
            "-D",
            str(self.root),
            "--boot",
            "--register=no",
            "--keep-unit",
            f"--machine={self.name}-{self.network.tag}",
            f"--hostname={self.name}",
            f"--network-namespace-path=/run/netns/{self.namespace}",
            "--console=read-only",
            *(f"--bind-ro={source}:{target}" for source, target in self.binds.items()),
        ]
        with open(self.console, "ab") as console:
            self.process = subprocess.Popen(
                command, stdout=console, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        wait_for(self._init_pid, 30, f"{self.name}'s systemd to start")
        state = wait_for(lambda: self._settled_state(timeout), timeout, f"{self.name} to boot")
        if state not in ("running", "degraded"):
            raise AssertionError(f"{self.name} booted into {state!r}\n{self.journal()}")
        return self

    def _settled_state(self, timeout: float) -> str | None:
        """The boot's outcome, or None while there is none yet.

        ``is-system-running --wait`` waits through "initializing" and "starting", but early in a
        boot, before systemd listens on its private socket, it answers "offline" at once: that
        is not an outcome, so ask again.
        """
        answer = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout)
        state = answer.stdout.strip()
        return state if state in ("running", "degraded", "maintenance", "stopping") else None

    def poweroff(self, timeout: float = 60) -> None:
        """A clean shutdown, from inside (its services stop as on a real host)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.run(["systemctl", "poweroff", "--no-block"], check=False)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Pull the plug: every process of the host is gone at once (a dead host).

        SIGKILL to the container's PID 1 ends its whole PID namespace; nspawn then exits.
        """
        if self.process is None or self.process.poll() is not None:
            return
        init = self._init_pid()
        if init is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, 9)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 9)
        self.process.wait()

    def close(self) -> None:
        self.kill()
        run(["umount", "-l", str(self.root)], check=False)

    @property
    def running(self) -> bool:
        return self._init_pid() is not None

    # -- inside ------------------------------------------------------------------------------------
    def _init_pid(self) -> int | None:
        """The container's PID 1 (systemd), seen from here; None until it runs."""
        if self.process is None:
            return None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() != "systemd":
                    continue
                if self._descends_from(int(entry.name), self.process.pid) and _other_namespaces(int(entry.name)):
                    return int(entry.name)
        return None

    @staticmethod
    def _descends_from(pid: int, ancestor: int) -> bool:
        while pid > 1:
            if pid == ancestor:
                return True
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
        return False

    def run(
        self, command: list[str], check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside this host (its namespaces, its root), with a clean environment."""
        pid = self._init_pid()
        if pid is None or not _other_namespaces(pid):
            raise RuntimeError(f"{self.name} is not running (refusing to run {command} here)")
        environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        return run(
            [
                "nsenter",
                f"--target={pid}",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--pid",
                "--cgroup",
                "--root",
                "--wd=/",
                "--",
                "env",
                "-i",
                *(f"{k}={v}" for k, v in environment.items()),
                *command,
            ],
            check=check,
            timeout=timeout,
        )

    def file(self, path: str) -> Path:
        """A file of this host's disk, read from outside."""
        return self.root / path.lstrip("/")

    def journal(self, unit: str | None = None, lines: int = 200) -> str:
        command = ["journalctl", "--no-pager", "-n", str(lines)] + (["-u", unit] if unit else [])
        with contextlib.suppress(Exception):
            return self.run(command, check=False, timeout=30).stdout
        return ""

    def pids(self, pattern: str) -> list[int]:
        """pids (in this host's PID namespace) of processes whose command line matches."""
        result = self.run(["pgrep", "-f", pattern], check=False)
        return [int(pid) for pid in result.stdout.split()]


def _other_namespaces(pid: int) -> bool:
    """True if ``pid`` runs in a PID and a mount namespace that are not ours (a container's)."""
    try:
        return all(
            os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}") for kind in ("pid", "mnt")
        )
    except OSError:
        return False


def fires(machine: Machine, app: str) -> list[dict[str, Any]]:
    """The fire log the VM jobs write on one host (from outside, on its disk)."""
    path = machine.file(f"/var/lib/{app}/fires.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]
