"""Test harness: real gunicorn masters on loopback, waited on by conditions, never by sleeps."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import httpx

from scheduler_proc import Jobs, RunContext
from scheduler_proc.formats.status import JobRow, StatusDocument
from scheduler_proc.formats.vocabulary import Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent
JOBSETS = Path(__file__).resolve().parent / "jobsets"
# The console script, as users run it: `python -m gunicorn` re-executes on USR2 with
# gunicorn's package directory first on sys.path, where gunicorn/app shadows our app.
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
UVICORN = str(Path(sys.executable).parent / "uvicorn")
FASTAPI = str(Path(sys.executable).parent / "fastapi")
#: Debian's chromium: the status page's tests and benchmark download no browser.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | Literal[False] | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``.

    The value returned is the truthy one: never None or False (``lambda: a and b`` waits for both).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class FakeClock:
    """A clock that moves only when a test sets ``now`` (for pure-logic tests of timing)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless, without the background traffic that would blur request counts."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


def record_fetches(page: Page) -> list[str]:
    """The URLs ``page`` requests with fetch(), in the order Chromium sends them."""
    fetches: list[str] = []
    page.on("request", lambda request: fetches.append(request.url) if request.resource_type == "fetch" else None)
    return fetches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_fires(path: Path) -> list[dict[str, Any]]:
    """The JSON lines test jobs append, one per run."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pids_with_marker(marker: str) -> list[int]:
    """Every live process whose environment carries ``marker`` (ours, whatever its parent)."""
    found = []
    needle = f"KIT_TEST_ID={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def scheduler_pids(marker: str, role: str) -> list[int]:
    """pids of our supervisor (role='supervisor') or runner (role='runner') processes."""
    return [pid for pid in pids_with_marker(marker) if f"scheduler_proc.{role}" in proc_cmdline(pid)]


class HostFactory(Protocol):
    """The ``hosts`` fixture: a :class:`Host` under the test's tmp_path, not yet started, that the
    fixture kills after the test. Keywords as :class:`Host` takes them."""

    def __call__(
        self,
        name: str = ...,
        jobs: str = ...,
        *,
        env: dict[str, str] | None = ...,
        workers: int = ...,
        worker_class: str = ...,
        lock_dir: Path | None = ...,
        extra_args: list[str] | None = ...,
        command: list[str] | None = ...,
    ) -> Host: ...


class Host:
    """One simulated host: a gunicorn master with its own node id, lock dir and state dir."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        jobs: str,
        env: dict[str, str] | None = None,
        workers: int = 2,
        worker_class: str = "uvicorn_worker.UvicornWorker",
        lock_dir: Path | None = None,
        extra_args: list[str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.name = name
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.marker = uuid.uuid4().hex
        self.log_path = self.dir / "gunicorn.log"
        self.pidfile = self.dir / "gunicorn.pid"
        self.fire_log = tmp / "fires.jsonl"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")},
            "KIT_TEST_ID": self.marker,
            "PYTHONPATH": os.pathsep.join([str(JOBSETS), str(ROOT)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SCHEDULER_JOBS": jobs,
            # The suite's jobsets are modules of their own (slow:jobs, ...): one namespace for all
            # of them, as the tests name keys and files after it. tests/integration/test_library.py tests the default.
            "SCHEDULER_NAMESPACE": "scheduler",
            "SCHEDULER_NODE_ID": name,
            "SCHEDULER_LOCK_DIR": str(lock_dir or self.dir / "run"),
            "SCHEDULER_STATE_DIR": str(self.dir / "state"),
            "FIRE_LOG": str(self.fire_log),
            "WEB_CONCURRENCY": str(workers),
            "WORKER_CLASS": worker_class,
            "BIND": f"127.0.0.1:{self.port}",
            "GRACEFUL_TIMEOUT": "10",
            **(env or {}),
        }
        self.extra_args = extra_args or []
        # Another launcher (uvicorn, fastapi run); {port} is filled in. Default: the kit's gunicorn.
        self.command = [part.format(port=self.port) for part in command] if command else None
        self.process: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Host:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command or [GUNICORN, "-c", "gunicorn.conf.py", "-p", str(self.pidfile), *self.extra_args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def start_and_wait(self, role: str = "leader", timeout: float = 20) -> Host:
        self.start()
        self.wait_role(role, timeout)
        return self

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name}: gunicorn still running after {timeout}s\n{self.output()}") from None

    def kill_everything(self) -> None:
        """Every process of this host stopped, then killed. Killed one by one, a master that
        outlived its worker by a moment forked a new one after the scan, and that uvicorn
        worker (its master gone) ran on for good; a supervisor released its dead runner's lease."""
        stopped: set[int] = set()
        for _ in range(50):  # until a scan finds no process it has not stopped (none can fork then)
            found = set(pids_with_marker(self.marker)) - stopped
            if not found:
                break
            for pid in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= found
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    # -- observation -----------------------------------------------------------------------
    @property
    def master_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        os.kill(self.master_pid, sig)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def count_lines(self, pattern: str) -> int:
        return len(re.findall(pattern, self.output()))

    def wait_log(self, pattern: str, timeout: float = 10, count: int = 1) -> None:
        wait_for(lambda: self.count_lines(pattern) >= count, timeout, f"{self.name} log to show {pattern!r}")

    def get(self, path: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=timeout, headers=headers)

    def status(self) -> dict[str, Any] | None:
        try:
            response = self.get("/scheduler/status")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def in_role(self, *roles: str) -> bool:
        """Whether its status answer names one of ``roles`` (False while it gives none)."""
        return (self.status() or {}).get("role") in roles

    def wait_role(self, role: str, timeout: float = 20) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name}: gunicorn exited early\n{self.output()}")
            status = self.status()
            return status if status and status["role"] == role else None

        try:
            return wait_for(ready, timeout, f"{self.name} scheduler role {role}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m scheduler_proc ARGS`` with this host's environment, as an operator runs it."""
        return subprocess.run(
            [sys.executable, "-m", "scheduler_proc", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def runner_pids(self) -> list[int]:
        return scheduler_pids(self.marker, "runner")

    def supervisor_pids(self) -> list[int]:
        return scheduler_pids(self.marker, "supervisor")

    def worker_pids(self) -> list[int]:
        return sorted(
            pid
            for pid in pids_with_marker(self.marker)
            if pid != self.master_pid and "gunicorn" in proc_cmdline(pid) and _ppid(pid) == self.master_pid
        )


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


_MISSED_FIRE = re.compile(r"fire (?:missed|refused|skipped) job=(\S+) scheduled_at=(\S+)")
_MISSED_RANGE = re.compile(r"job (\S+): fires from (\S+) (?:to|until) (\S+) (?:are not started|were missed)")
_UNCLAIMED_RANGE = re.compile(  # "no claim in the store" (either store)
    r"job\(s\) have no claim in \S+ .*?: their fires from (\S+) to (\S+) are not started \(.*?\): (.*)"
)


def reported_seconds(log: str, job: str = "tick") -> set[int]:
    """Seconds of a 1-second job that the kit's log names as missed, refused or skipped."""
    seconds = {int(datetime.fromisoformat(at).timestamp()) for name, at in _MISSED_FIRE.findall(log) if name == job}
    ranges = [(first, last) for name, first, last in _MISSED_RANGE.findall(log) if name == job]
    ranges += [(first, last) for first, last, names in _UNCLAIMED_RANGE.findall(log) if job in names.split(", ")]
    for first, last in ranges:
        seconds.update(
            range(
                int(datetime.fromisoformat(first).timestamp()), math.ceil(datetime.fromisoformat(last).timestamp()) + 1
            )
        )
    return seconds


def fires_by_second(fires: list[dict[str, Any]], job: str = "tick") -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for fire in fires:
        if fire["job"] == job:
            by.setdefault(fire["scheduled_at"], []).append(fire)
    return by


def assert_no_duplicates(fires: list[dict[str, Any]], job: str = "tick") -> None:
    doubled = {k: v for k, v in fires_by_second(fires, job).items() if len(v) > 1}
    assert not doubled, f"fires run more than once: {doubled}"


def assert_no_gaps(fires: list[dict[str, Any]], job: str = "tick", period: float = 1.0) -> None:
    from datetime import datetime

    times = sorted(datetime.fromisoformat(k) for k in fires_by_second(fires, job))
    gaps = [
        (a.isoformat(), b.isoformat()) for a, b in itertools.pairwise(times) if (b - a).total_seconds() > period * 1.5
    ]
    assert not gaps, f"fires lost between: {gaps}"


def start_nodes(hosts: HostFactory, count: int, jobs: str, env: dict[str, str]) -> list[Host]:
    """``count`` hosts node-0.. with the same jobs and environment, all started (not yet waited for)."""
    nodes = [hosts(f"node-{i}", jobs=jobs, workers=1, env=env) for i in range(count)]
    for node in nodes:
        node.start()
    return nodes


def leader_of(nodes: list[Host], timeout: float = 20) -> Host:
    """The node whose status says it leads (waits for one)."""
    return wait_for(
        lambda: next((n for n in nodes if (n.status() or {}).get("role") == "leader"), None), timeout, "a leader"
    )


#: What a checkout of the kit holds that `make deploy` uses (a user's app ships the same).
SHIPPED = [
    "app",
    "scheduler_proc",
    "deploy",
    "gunicorn.conf.py",
    "pyproject.toml",
    "requirements.lock",
    "README.md",
    "Makefile",
    "scripts",
]


def deploy_module() -> ModuleType:
    """The deploy tool's steps (``scheduler_proc.deploy.tool``), to call them one by one."""
    from scheduler_proc.deploy import tool

    return tool


def copy_shipped(target: Path) -> Path:
    """A copy of the shipped tree at ``target``, so a test can change the code and deploy it."""
    for name in SHIPPED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name)
    return target


def job_row(job_id: str, trigger: str = "every 20s") -> JobRow:
    """A job's row in a status document, as a standby writes it (nothing run, nothing due)."""
    return {
        "id": job_id,
        "trigger": trigger,
        "paused": False,
        "next_run_at": None,
        "next_fires": [],
        "last_run_at": None,
        "last_outcome": None,
    }


def leader_status(
    jobs: list[JobRow], *, node: str = "node-a", master_pid: int = 1, role: Role = "leader"
) -> StatusDocument:
    """A single-host scheduler's whole status document with ``jobs``, for tests of its readers."""
    return {
        "node": node,
        "role": role,
        "runner_pid": 2,
        "master_pid": master_pid,
        "mode": "single-host",
        "cluster": {},
        "jobs": jobs,
        "tzdata": "2025b",
    }


def recording_jobs() -> tuple[Jobs, list[datetime]]:
    """A jobs module with one 1-second job "t" that records the fires it ran."""
    ran: list[datetime] = []
    jobs = Jobs()

    @jobs.every(seconds=1, id="t")
    def t(ctx: RunContext) -> None:
        ran.append(ctx.scheduled_at)

    return jobs, ran


#: A user's own FastAPI project, as SPEC_21's public API has it (no /healthz of its own).
SAMPLE_MAIN = '''"""The shop's web app: the kit's router gives it /scheduler/livez and /scheduler/readyz."""

from fastapi import FastAPI

from scheduler_proc import metrics_router, scheduler_lifespan, scheduler_router

app = FastAPI(lifespan=scheduler_lifespan)
app.include_router(scheduler_router(), prefix="/scheduler")
app.include_router(metrics_router())


@app.get("/orders")
def orders() -> list[str]:
    return []
'''

#: Its jobs: a 1-second tick that appends which fire it ran to $STATE_DIRECTORY/fires.jsonl.
SAMPLE_JOBS = '''"""The shop's jobs."""

import json
import os
import time

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    line = {"job": ctx.job_id, "scheduled_at": ctx.scheduled_at.isoformat(), "pid": os.getpid(), "t": time.time()}
    with open(os.path.join(os.environ["STATE_DIRECTORY"], "fires.jsonl"), "a") as log:
        log.write(json.dumps(line) + "\\n")


@jobs.cron("*/5 * * * *")
def cleanup() -> None:
    pass
'''


def kit_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def build_kit_wheel(wheels: Path, scratch: Path) -> Path:
    """``pip wheel --no-deps`` of this checkout into ``wheels`` (built from a copy: no build/ left here)."""
    source = copy_shipped(scratch)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(wheels)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return wheels


def write_files(directory: Path, files: dict[str, str]) -> Path:
    """``directory`` with each of ``files`` (relative name -> text) written in it, parents made."""
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def sample_project(target: Path, jobs: str = SAMPLE_JOBS, git: bool = True) -> Path:
    """A separate FastAPI project ``shop`` that uses the kit from its requirements.txt, as a git work tree."""
    (target / "shop").mkdir(parents=True)
    (target / "shop" / "__init__.py").write_text("")
    (target / "shop" / "main.py").write_text(SAMPLE_MAIN)
    (target / "shop" / "jobs.py").write_text(jobs)
    # Its lock: the kit pinned, and the kit's own pins for the rest (what `pip freeze` of it gives).
    (target / "requirements.txt").write_text(
        f"scheduler-proc=={kit_version()}\n" + (ROOT / "requirements.lock").read_text()
    )
    (target / ".gitignore").write_text("secret.txt\n")
    (target / "secret.txt").write_text("not for the server\n")
    if git:
        identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
        for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-q", "-m", "shop"]):
            subprocess.run(["git", "-C", str(target), *command], check=True, capture_output=True)
    return target
