"""The kit as a library: a user's own project, from the wheel to jobs firing once, and apps that share a host.

The new-user test does what the README tells a pip user to do, in a temporary directory
with a fresh venv: install the kit's wheel, write a project of its own (package ``shop``,
its own jobs and gunicorn config), validate it, and run it under gunicorn and under
``uvicorn --workers 2``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ROOT, UVICORN, Host, free_port, wait_for

pytestmark = pytest.mark.processes

SHOP_MAIN = """
    from fastapi import FastAPI
    from scheduler_proc import metrics_router, scheduler_lifespan, scheduler_router

    app = FastAPI(lifespan=scheduler_lifespan)
    app.include_router(scheduler_router(), prefix="/scheduler")
    app.include_router(metrics_router())
"""
SHOP_JOBS = """
    import json, os
    from scheduler_proc import Jobs, RunContext

    jobs = Jobs()

    @jobs.every(seconds=1, id="tick")
    def tick(ctx: RunContext) -> None:
        with open(os.environ["FIRE_LOG"], "a") as log:
            log.write(json.dumps({"scheduled_at": ctx.scheduled_at.isoformat(), "pid": os.getpid()}) + "\\n")

    @jobs.cron("*/5 * * * *")
    async def cleanup() -> None: ...
"""
# The README's one line in the user's own gunicorn.conf.py.
SHOP_GUNICORN_CONF = """
    from scheduler_proc.gunicorn_conf import on_starting, when_ready, on_reload, on_exit  # noqa: F401

    worker_class = "uvicorn_worker.UvicornWorker"
    workers = 2
    control_socket_disable = True
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kit's wheel, built from this checkout as a release would be."""
    out = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)], ROOT)
    [built] = out.glob("scheduler_proc-*.whl")
    return built


@pytest.fixture(scope="module")
def user_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the kit's wheel (and what it depends on, at the locked versions)."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], ROOT)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(ROOT / "requirements.lock"), str(wheel)], ROOT)
    return venv


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A user's project of its own, outside the kit's checkout."""
    return _write_shop(tmp_path / "shop-project")


def _write_shop(project: Path) -> Path:
    """The project ``shop``: its package (app and jobs) and its own gunicorn.conf.py."""
    package = project / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(textwrap.dedent(SHOP_MAIN))
    (package / "jobs.py").write_text(textwrap.dedent(SHOP_JOBS))
    (project / "gunicorn.conf.py").write_text(textwrap.dedent(SHOP_GUNICORN_CONF))
    return project


def _lua_scripts() -> list[str]:
    """The Lua scripts of the Redis backend, as paths inside the package."""
    scripts = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "scheduler_proc").rglob("*.lua"))
    assert scripts, "no Lua script found under scheduler_proc/"
    return scripts


def test_the_wheel_carries_what_a_pip_user_needs(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata_name] = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
        [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "scheduler_proc/py.typed" in names
    assert "scheduler_proc/gunicorn_conf.py" in names
    assert "scheduler_proc/web/status_page.html" in names
    assert set(_lua_scripts()) <= set(names), "the Redis backend's Lua scripts are package data"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names
    assert not [name for name in names if name.startswith(("tests/", "app/", "bench/"))]
    assert "scheduler-proc = scheduler_proc.web.cli:main" in scripts
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Classifier: Framework :: FastAPI" in metadata
    # The description a pip user reads starts with what the kit is and how to install it.
    description = metadata.split("\n\n", 1)[1]
    assert description.index("pip install scheduler-proc") < description.index("make run")
    assert "Exactly-once" not in metadata.split("\n\n", 1)[0]


def test_the_sdist_ships_no_test_without_its_helpers(tmp_path: Path) -> None:
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)], ROOT)
    [built] = tmp_path.glob("scheduler_proc-*.tar.gz")
    with tarfile.open(built) as archive:
        members = [member.name.split("/", 1)[1] for member in archive.getmembers() if "/" in member.name]
    assert "LICENSE" in members and "scheduler_proc/py.typed" in members
    assert set(_lua_scripts()) <= set(members), "the wheel is built from the sdist: it must carry the Lua scripts"
    assert not [member for member in members if member.startswith(("tests/", "bench/", "app/", "deploy/"))]


def test_a_users_own_project_validates_and_fires_once_under_gunicorn_and_uvicorn(
    user_venv: Path, shop: Path, tmp_path: Path
) -> None:
    bin_dir = user_venv / "bin"
    env = _user_env(shop, tmp_path, "gunicorn")
    validated = subprocess.run(
        [str(bin_dir / "scheduler-proc"), "validate"], cwd=shop, env=env, capture_output=True, text=True
    )
    assert validated.returncode == 0, validated.stderr
    assert "OK: 2 job(s) in SCHEDULER_JOBS='shop.jobs:jobs' (namespace 'shop')" in validated.stdout
    assert "tick" in validated.stdout and "shop.jobs.cleanup" in validated.stdout

    # The user's own gunicorn.conf.py with the one import line.
    with _served([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "shop.main:app"], shop, env) as port:
        _fires_once(port, Path(env["FIRE_LOG"]))
    # The ready-made config, as the README's gunicorn line.
    env = _user_env(shop, tmp_path, "ready-made")
    command = [str(bin_dir / "gunicorn"), "-c", "python:scheduler_proc.gunicorn_conf", "shop.main:app"]
    with _served(command, shop, env) as port:
        _fires_once(port, Path(env["FIRE_LOG"]))
    env = _user_env(shop, tmp_path, "uvicorn")
    command = [str(bin_dir / "uvicorn"), "shop.main:app", "--workers", "2", "--port", env["PORT"]]
    with _served(command, shop, env) as port:
        _fires_once(port, Path(env["FIRE_LOG"]))
        assert (Path(env["SCHEDULER_LOCK_DIR"]) / "shop.lock").exists()  # the namespace follows the package


def test_a_users_own_project_stages_a_deploy_with_the_console_command(
    user_venv: Path, wheel: Path, shop: Path, tmp_path: Path
) -> None:
    (shop / "requirements.txt").write_text("scheduler-proc\n")  # the kit, from the wheelhouse here
    stage = tmp_path / "stage"
    command = [
        str(user_venv / "bin" / "scheduler-proc"),
        "deploy",
        "--app",
        "shopdemo",
        "--destdir",
        str(stage),
        "--project",
        str(shop),
        "--asgi",
        "shop.main:app",
        "--jobs",
        "shop.jobs:jobs",
        "--find-links",
        str(wheel.parent),
    ]
    staged = subprocess.run(command, cwd=shop, capture_output=True, text=True, timeout=600)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    current = stage / "opt" / "shopdemo" / "current"
    assert (current / "shop" / "jobs.py").exists() and not (current / "app").exists()
    unit = (stage / "etc/systemd/system/shopdemo.service").read_text()
    assert "gunicorn -c gunicorn.conf.py shop.main:app" in unit, unit  # the project's own config
    env = (stage / "etc" / "shopdemo" / "env").read_text()
    assert "SCHEDULER_JOBS=shop.jobs:jobs" in env and "SCHEDULER_NAMESPACE=shopdemo" in env, env


def test_a_jobs_module_that_does_not_load_stops_every_launcher_with_the_same_message(
    user_venv: Path, shop: Path, tmp_path: Path
) -> None:
    (shop / "shop" / "jobs.py").write_text("raise RuntimeError('the database URL is missing')\n")
    bin_dir = user_venv / "bin"
    message = "SCHEDULER_JOBS='shop.jobs:jobs': importing the module raised RuntimeError: the database URL is missing"
    env = _user_env(shop, tmp_path, "broken")
    validated = subprocess.run(
        [str(bin_dir / "scheduler-proc"), "validate"], cwd=shop, env=env, capture_output=True, text=True
    )
    assert validated.returncode == 2 and message in validated.stderr, validated.stderr
    launchers = {
        "gunicorn": [str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "shop.main:app"],
        "uvicorn": [str(bin_dir / "uvicorn"), "shop.main:app", "--port", env["PORT"]],
        "uvicorn --workers 2": [str(bin_dir / "uvicorn"), "shop.main:app", "--workers", "2", "--port", env["PORT"]],
    }
    for name, command in launchers.items():
        ended = subprocess.run(command, cwd=shop, env=env, capture_output=True, text=True, timeout=60)
        output = ended.stdout + ended.stderr
        assert message in output, f"{name}:\n{output}"
        # uvicorn's multi-process parent exits 0 whenever a worker fails to start (uvicorn's own
        # choice); gunicorn exits 1 and a single uvicorn process 3. Every one of them stops.
        assert ended.returncode == (0 if "--workers" in command else 1 if name == "gunicorn" else 3), output
        if name != "gunicorn":  # the kit's own line, with time and level, before uvicorn's traceback
            assert re.search(r"^\[[0-9-]+ [0-9:]+ \+0000\] \[\d+\] \[ERROR\] scheduler\.embedded: ", output, re.M), (
                output
            )


def test_two_apps_on_one_host_are_apart_by_default(hosts: Any, tmp_path: Path) -> None:
    shared = tmp_path / "shared-run"
    first = hosts("app-a", jobs="ticker:jobs", lock_dir=shared, env={"SCHEDULER_NAMESPACE": ""})
    second = hosts("app-b", jobs="weekdays:jobs", lock_dir=shared, env={"SCHEDULER_NAMESPACE": ""})
    first.start_and_wait("leader")
    second.start_and_wait("leader")  # each app holds the lock of its own namespace
    assert {path.name for path in shared.glob("*.lock")} >= {"ticker.lock", "weekdays.lock"}
    assert "another app" not in first.output() + second.output()


def test_an_app_that_finds_its_namespace_held_by_another_app_says_so(hosts: Any, tmp_path: Path) -> None:
    shared = tmp_path / "shared-run"
    first = hosts("app-a", jobs="ticker:jobs", lock_dir=shared).start_and_wait("leader")
    second = hosts("app-b", jobs="weekdays:jobs", lock_dir=shared)
    second.start()
    second.wait_log(r"\[ERROR\] scheduler\.runner: host lock .* is held by .*another app")
    assert "SCHEDULER_JOBS='ticker:jobs'" in second.output() and "own SCHEDULER_NAMESPACE" in second.output()

    status = wait_for(lambda: (second.status() or {}).get("conflict") and second.status(), 20, "app-b's conflict")
    assert "tick" not in {job["id"] for job in status["jobs"]}, status  # never the other app's jobs
    ready = second.get("/scheduler/readyz", timeout=10)
    assert ready.status_code == 503 and "another app" in ready.json()["reason"], ready.text
    assert first.get("/scheduler/readyz", timeout=10).status_code == 200
    assert "conflict" not in (first.status() or {})
    # The CLI, run with app-b's settings, tells the same.
    answer = second.cli("status", "--json")
    assert "conflict" in json.loads(answer.stdout), answer.stdout + answer.stderr


def test_an_app_whose_namespace_leads_elsewhere_on_one_redis_under_another_app_says_so(
    hosts: Any, redis_server: Any
) -> None:
    env = {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "3"}
    first = hosts("app-a", jobs="ticker:jobs", workers=1, env=env).start_and_wait("leader")
    second = hosts("app-b", jobs="weekdays:jobs", workers=1, env=env)  # another host, same namespace
    second.start()
    second.wait_log(r"\[ERROR\] scheduler\.runner: the cluster's lease: namespace 'scheduler' is held by another app")
    status = wait_for(lambda: (second.status() or {}).get("conflict") and second.status(), 20, "app-b's conflict")
    assert status["role"] == "standby" and "tick" not in {job["id"] for job in status["jobs"]}
    assert second.get("/scheduler/readyz", timeout=10).status_code == 503
    assert first.get("/scheduler/readyz", timeout=10).status_code == 200


def test_a_standby_whose_tzdata_differs_from_the_leaders_says_so(hosts: Any, redis_server: Any, tmp_path: Path) -> None:
    env = {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "3"}
    leader = hosts("node-a", workers=1, env=env).start_and_wait("leader")
    other_zoneinfo = tmp_path / "zoneinfo"  # zoneinfo reads PYTHONTZPATH; zones it lacks come from `tzdata`
    other_zoneinfo.mkdir()
    (other_zoneinfo / "tzdata.zi").write_text("# version 2099z\n")
    standby = hosts("node-b", workers=1, env={**env, "PYTHONTZPATH": str(other_zoneinfo)})
    standby.start_and_wait("standby")
    standby.wait_log(r"\[ERROR\] scheduler\.runner: the leader, node node-a, computes crontab instants with tzdata")
    assert "and this node with 'system 2099z'" in standby.output()
    status = wait_for(lambda: (standby.status() or {}).get("tzdata_mismatch") and standby.status(), 10, "mismatch")
    assert status["tzdata"] == "system 2099z"
    assert (leader.status() or {}).get("tzdata", "").startswith(("system ", "tzdata ")), leader.status()
    assert "tzdata_mismatch" not in (leader.status() or {})


def test_a_rolling_upgrade_to_the_derived_namespace_is_warned_of(hosts: Any, redis_server: Any) -> None:
    # A host of this app still on 0.1 leads the old default namespace.
    redis_server.client().set("{scheduler}:leader", "7:abc:old-host", px=60000)
    env = {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "3", "SCHEDULER_NAMESPACE": ""}
    host = hosts("new-host", jobs="ticker:jobs", workers=1, env=env).start_and_wait("leader")
    host.wait_log(r"\[WARNING\] scheduler\.backend: a scheduler leads namespace 'scheduler' on this Redis")
    assert "set SCHEDULER_NAMESPACE=scheduler on every host" in host.output()


def test_two_copies_of_one_project_under_uvicorn_that_share_a_namespace_tell_it(tmp_path: Path) -> None:
    """Two checkouts of one project (same SCHEDULER_JOBS, say staging and prod) on one host with
    the same lock and state directories: the second must say that another app holds them."""
    copies = [_write_shop(tmp_path / name) for name in ("prod", "staging")]
    shared = {"SCHEDULER_LOCK_DIR": str(tmp_path / "run"), "SCHEDULER_STATE_DIR": str(tmp_path / "state")}
    envs = [{**_user_env(project, tmp_path, project.name), **shared} for project in copies]
    commands = [[UVICORN, "shop.main:app", "--workers", "2", "--port", env["PORT"]] for env in envs]
    with _served(commands[0], copies[0], envs[0]):
        second = _served(commands[1], copies[1], envs[1])  # not entered: it never becomes ready
        try:
            wait_for(lambda: "another app" in second.output(), 30, "staging to log that prod holds its namespace")
            assert re.search(r"\[ERROR\] scheduler\.embedded: owner lock .* is held by worker", second.output())
            base = f"http://127.0.0.1:{envs[1]['PORT']}/scheduler"
            wait_for(lambda: _answer(f"{base}/readyz") == 503, 20, "staging not ready")
            status = httpx.get(f"{base}/status", timeout=10).json()
            assert "conflict" in status and status["jobs"] == [], status  # never prod's jobs as its own
        finally:
            second.stop()


def test_a_usr2_upgrade_into_a_new_release_directory_is_the_same_app(tmp_path: Path) -> None:
    """`current` switched to a new release, then USR2: the new master runs from another
    directory, yet it is this app handing over, not another app (readyz stays 200)."""
    releases = [_write_shop(tmp_path / name) for name in ("rel1", "rel2")]
    current, pidfile = tmp_path / "current", tmp_path / "gunicorn.pid"
    current.symlink_to(releases[0])
    env = {**_user_env(current, tmp_path, "usr2"), "PWD": str(current)}  # gunicorn re-execs in $PWD
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with _served([gunicorn, "-c", "gunicorn.conf.py", "-p", str(pidfile), "shop.main:app"], current, env) as port:
        current.unlink()
        current.symlink_to(releases[1])
        os.kill(int(pidfile.read_text()), signal.SIGUSR2)
        log = Path(env["FIRE_LOG"]).with_suffix(".log")
        wait_for(lambda: log.read_text().count("Booting worker") >= 4, 30, "the new master's workers")
        wait_for(lambda: "waits as standby" in log.read_text(), 30, "the new master's scheduler to stand by")
        for _ in range(20):  # answered by workers of both masters
            answer = httpx.get(f"http://127.0.0.1:{port}/scheduler/readyz", headers={"Connection": "close"}, timeout=10)
            assert answer.status_code == 200, answer.text
        assert "another app" not in log.read_text()


def test_the_cli_never_imports_code_from_a_directory_others_may_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "planted").mkdir(parents=True)
    marker = tmp_path / "ran"
    (shared / "planted" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    shared.chmod(0o777)  # anyone may write here, as in /tmp
    env = {**os.environ, "SCHEDULER_JOBS": "planted:jobs"}
    cli = str(Path(sys.executable).parent / "scheduler-proc")
    refused = subprocess.run([cli, "validate"], cwd=shared, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "module 'planted' not found" in refused.stderr, refused.stderr
    assert not marker.exists()
    shared.chmod(0o755)  # the user's own directory: found there, as gunicorn would
    found = subprocess.run([cli, "validate"], cwd=shared, env=env, capture_output=True, text=True)
    assert marker.exists() and "has no attribute 'jobs'" in found.stderr, found.stderr


def test_the_health_endpoints_need_no_token_and_show_no_data(hosts: Any) -> None:
    host = hosts("node-a", env={"SCHEDULER_READ_TOKEN": "read-secret-0123456789abcdef"}).start()
    ready = wait_for(lambda: _ready(host), 20, "readyz to answer 200")
    # Ready as soon as the scheduler has a role: standby for a moment, then leader.
    assert ready["status"] == "ready" and ready["reason"] in (
        "the scheduler on this host is standby",
        "the scheduler on this host is leader",
    ), ready
    leading = wait_for(lambda: (_ready(host) or {}).get("reason", "").endswith("leader"), 20, "readyz as leader")
    assert leading
    assert host.get("/scheduler/livez", timeout=10).json() == {"status": "ok"}
    assert host.get("/scheduler/status", timeout=10).status_code == 401


# --- helpers ----------------------------------------------------------------------------------


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _user_env(project: Path, tmp_path: Path, name: str) -> dict[str, str]:
    port = free_port()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "VIRTUAL_ENV", "PYTHON"))},
        "SCHEDULER_JOBS": "shop.jobs:jobs",
        "SCHEDULER_LOCK_DIR": str(tmp_path / name / "run"),
        "SCHEDULER_STATE_DIR": str(tmp_path / name / "state"),
        "FIRE_LOG": str(tmp_path / name / "fires.jsonl"),
        "BIND": f"127.0.0.1:{port}",
        "PORT": str(port),
    }


class _served:
    """A server started in its own session, stopped with TERM (then KILL) whatever happens."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.log = Path(env["FIRE_LOG"]).with_suffix(".log")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.port = int(env["PORT"])
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def __enter__(self) -> int:
        try:
            wait_for(lambda: self._ready(), 60, "the user's app to be ready")
        except AssertionError as exc:
            self._stop()
            raise AssertionError(f"{exc}\n{self.log.read_text(errors='replace')}") from None
        return self.port

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/scheduler/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self._stop()

    def _stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # multiprocessing's resource tracker (uvicorn --workers) ends a moment after its parent.
        wait_for(lambda: not _session_alive(self.process.pid), 10, "every process of the server to end")


def _session_alive(sid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    return True
            except OSError:
                continue
    return False


def _fires_once(port: int, fire_log: Path) -> None:
    def fires() -> list[dict[str, Any]] | None:
        lines = fire_log.read_text().splitlines() if fire_log.exists() else []
        return [json.loads(line) for line in lines] if len(lines) >= 3 else None

    seen = wait_for(fires, 30, "three fires of the user's tick job")
    times = [fire["scheduled_at"] for fire in seen]
    assert len(times) == len(set(times)), times
    status = httpx.get(f"http://127.0.0.1:{port}/scheduler/status", timeout=10).json()
    assert status["role"] == "leader" and {job["id"] for job in status["jobs"]} == {"tick", "shop.jobs.cleanup"}


def _answer(url: str) -> int:
    """The status code of a GET, or 0 while the server does not answer in time."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _ready(host: Host) -> dict[str, Any] | None:
    try:
        response = host.get("/scheduler/readyz")
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None
