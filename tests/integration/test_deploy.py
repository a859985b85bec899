"""`make deploy` staged with DESTDIR, checked by systemd-analyze, and run from the stage.

systemd is installed here but is not PID 1, and booting it on the machine's root would empty
/tmp. So the unit is checked offline, and its ExecStart is run as the service user from the
staged layout by the process stand-in (tests/deploy_standin.py): the release,
venv, env file, unit, health check and rollback are the real ones.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from redis_support import RedisServer
from support import (
    ROOT,
    build_kit_wheel,
    copy_shipped,
    deploy_module,
    free_port,
    kit_version,
    read_fires,
    sample_project,
    wait_for,
    write_files,
)

from scheduler_proc.deploy.layout import Layout, parse_unit, read_env
from scheduler_proc.settings import KNOWN_VARIABLES

if TYPE_CHECKING:
    import redis

APP = "kit-deploy-test"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="staging a service user needs root")


def _deploy(
    source: Path, stage: Path, *args: str, process: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The deploy tool on ``stage``; ``env`` adds variables it reads (REDIS, POSTGRES: as make passes them)."""
    tool = [str(ROOT / "tests/deploy_standin.py"), str(source)] if process else ["-m", "deploy"]
    return subprocess.run(
        [
            sys.executable,
            *tool,
            "--app",
            APP,
            "--destdir",
            str(stage),
            "--health-timeout",
            "30",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=source,  # python -m deploy: the checkout's deploy package, and the kit next to it
        env={**os.environ, **(env or {})},
    )


def _source_copy(directory: Path) -> Path:
    return copy_shipped(directory / "src")


@pytest.fixture(scope="module")
def service_user() -> Iterator[str]:
    created = (
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", APP], capture_output=True
        ).returncode
        == 0
    )
    yield APP
    if created:
        subprocess.run(["userdel", APP], capture_output=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """World-traversable, unlike pytest's tmp_path, so the service user can reach the stage."""
    directory = Path(tempfile.mkdtemp(prefix="kit-deploy-"))
    os.chmod(directory, 0o755)
    yield directory
    pid_file = directory / "stage" / "run" / f"{APP}.service.pid"
    if pid_file.exists() and _runs_from(pid_file.read_text().strip(), directory):
        subprocess.run(["pkill", "-KILL", "-s", pid_file.read_text().strip()], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


def _runs_from(pid: str, directory: Path) -> bool:
    """Is ``pid`` still the service started from ``directory`` (not a reused pid of another test's process)?"""
    try:
        return str(directory).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_staged_layout_env_file_unit_and_local_redis(service_user: str, workdir: Path) -> None:
    stage = workdir / "stage"
    result = _deploy(ROOT, stage, "--redis", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IPAddressDeny=any: the service and its jobs can reach only this host; a job" in result.stdout
    env_file = stage / "etc" / APP / "env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    assert env_file.stat().st_uid == 0 and env_file.stat().st_gid == pwd.getpwnam(APP).pw_gid
    documented = env_file.read_text()
    for name in KNOWN_VARIABLES:
        assert name in documented, f"{name} is not documented in the env file"
    redis_conf = (stage / "etc/redis/redis.conf").read_text()
    for line in ("appendonly yes", "appendfsync always", "maxmemory-policy noeviction", "requirepass "):
        assert f"\n{line}" in redis_conf, f"REDIS=local did not configure {line!r}"
    current = stage / "opt" / APP / "current"
    assert current.is_symlink() and (current / ".complete").exists() and (current / "venv/bin/gunicorn").exists()
    unit = (stage / "etc/systemd/system" / f"{APP}.service").read_text()
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "KillMode=mixed",
        "TimeoutStopSec=75",
        f"RuntimeDirectory={APP}",
        f"StateDirectory={APP}",
        "Restart=on-failure",
        "StandardError=journal",
        f"User={APP}",
        "MemoryMax=1G",
        "TasksMax=512",
        "LimitNOFILE=16384",
    ):
        assert line in unit, line

    # systemd-analyze needs the units and binaries the unit names inside the root it checks.
    shutil.copytree("/usr/lib/systemd", stage / "usr/lib/systemd", symlinks=True)
    (stage / "bin").mkdir(exist_ok=True)
    shutil.copy2("/bin/kill", stage / "bin/kill")
    interpreter = Path(os.readlink(current / "venv/bin/python"))  # python -> python3 -> the system Python
    while not interpreter.is_absolute():
        interpreter = Path(os.readlink(current / "venv/bin" / interpreter))
    if not (stage / interpreter.relative_to("/")).exists():
        (stage / interpreter.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(interpreter.resolve(), stage / interpreter.relative_to("/"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={stage}", f"/etc/systemd/system/{APP}.service"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={stage}", f"{APP}.service"],
        capture_output=True,
        text=True,
    )
    exposure = _exposure(security)
    assert exposure <= 1.0, security.stdout


def test_staged_postgres_url_goes_to_the_env_file_apart_from_its_password_and_the_driver_into_the_venv(
    service_user: str, workdir: Path
) -> None:
    stage, password = workdir / "stage", "pg-deploy-secret-9c1e"
    url = f"postgresql://shop:{password}@10.0.0.5:5432/app?sslmode=require"
    result = _deploy(ROOT, stage, env={"POSTGRES": url})  # from the environment: in no command line
    assert result.returncode == 0, result.stdout + result.stderr
    assert password not in result.stdout + result.stderr
    assert "pointed " in result.stdout and "at the PostgreSQL at postgresql://shop@10.0.0.5:5432/app" in result.stdout
    env_file = stage / "etc" / APP / "env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    env = read_env(env_file)
    assert env["SCHEDULER_POSTGRES_URL"] == "postgresql://shop@10.0.0.5:5432/app?sslmode=require"
    assert env["SCHEDULER_POSTGRES_PASSWORD"] == password and password not in env["SCHEDULER_POSTGRES_URL"]
    unit = parse_unit((stage / "etc/systemd/system" / f"{APP}.service").read_text())
    assert unit["IPAddressAllow"] == "localhost 10.0.0.5"
    venv_python = stage / "opt" / APP / "current/venv/bin/python"
    driver = subprocess.run([str(venv_python), "-I", "-c", "import psycopg"], capture_output=True, text=True)
    assert driver.returncode == 0, driver.stderr

    # The env file is on PostgreSQL now: REDIS= is refused before anything changes.
    before = env_file.read_bytes()
    redis = _deploy(ROOT, stage, "--redis", "local")
    assert redis.returncode == 1 and "points at PostgreSQL (SCHEDULER_POSTGRES_URL)" in redis.stderr, redis.stderr
    assert env_file.read_bytes() == before


def test_deploy_runs_as_the_user_is_idempotent_rolls_back_and_undeploys(
    service_user: str, workdir: Path, redis_server: RedisServer
) -> None:
    source, stage, port = _source_copy(workdir), workdir / "stage", free_port()
    base = f"http://127.0.0.1:{port}"

    first = _deploy(source, stage, "--port", str(port), process=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "healthy:" in first.stdout
    assert httpx.get(f"{base}/scheduler/status").json()["role"] == "leader"
    pid = int((stage / "run" / f"{APP}.service.pid").read_text())
    assert os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam(APP).pw_uid, "not running as the service user"
    lock = stage / "run" / APP / "scheduler.lock"
    wait_for(lambda: lock.exists() and '"pid"' in lock.read_text(), 10, "the host lock")
    first_release = os.readlink(stage / "opt" / APP / "current")

    snapshot = _tree(stage / "opt") | _tree(stage / "etc")
    again = _deploy(source, stage, "--port", str(port), process=True)
    assert again.returncode == 0 and "nothing changed; the service keeps running" in again.stdout, again.stdout
    assert int((stage / "run" / f"{APP}.service.pid").read_text()) == pid, "the service was restarted"
    assert _tree(stage / "opt") | _tree(stage / "etc") == snapshot

    # Same code, but the env file now points at a Redis: the service must restart to read it.
    clustered = _deploy(source, stage, "--port", str(port), "--redis", redis_server.url, process=True)
    assert clustered.returncode == 0 and "restarting the service" in clustered.stdout, clustered.stdout
    assert int((stage / "run" / f"{APP}.service.pid").read_text()) != pid, "the service kept its old env"
    assert httpx.get(f"{base}/scheduler/status").json()["mode"] == "cluster"

    # Broken so that no worker boots: readiness is the kit's /scheduler/livez, not the demo's /healthz.
    main = source / "app" / "main.py"
    healthy = main.read_text()
    main.write_text(healthy + '\nraise RuntimeError("broken release")\n')
    broken = _deploy(source, stage, "--port", str(port), "--health-timeout", "8", process=True)
    assert broken.returncode == 1
    assert "rolled back to " + Path(first_release).name in broken.stderr, broken.stderr
    assert os.readlink(stage / "opt" / APP / "current") == first_release
    wait_for(lambda: _healthy(base), 30, "the rolled-back release to answer")

    nothing_before = _deploy(source, stage, "rollback", process=True)
    assert nothing_before.returncode == 1 and "no previous release to roll back to" in nothing_before.stderr

    main.write_text(healthy + "\n# release C\n")
    third = _deploy(source, stage, "--port", str(port), process=True)
    assert third.returncode == 0, third.stdout + third.stderr
    assert os.readlink(stage / "opt" / APP / "current") != first_release
    rollback = _deploy(source, stage, "rollback", process=True)
    assert rollback.returncode == 0 and "healthy:" in rollback.stdout, rollback.stdout + rollback.stderr
    assert os.readlink(stage / "opt" / APP / "current") == first_release

    undeploy = _deploy(source, stage, "undeploy", process=True)
    assert undeploy.returncode == 0
    assert not (stage / "opt" / APP).exists() and not (stage / "etc/systemd/system" / f"{APP}.service").exists()
    assert (stage / "etc" / APP / "env").exists() and (stage / "var/lib" / APP).exists()
    purge = _deploy(source, stage, "--purge", "undeploy", process=True)
    assert purge.returncode == 0 and not (stage / "etc" / APP).exists()


# -- project mode: a user's own project, with the kit from a wheel ------------------------------------
@pytest.fixture(scope="module")
def kit_wheels() -> Iterator[Path]:
    """A wheelhouse holding the kit's wheel, as a user would build it (``pip wheel --no-deps <kit>``)."""
    directory = Path(tempfile.mkdtemp(prefix="kit-wheels-"))
    os.chmod(directory, 0o755)
    yield build_kit_wheel(directory / "wheels", directory / "src")
    shutil.rmtree(directory, ignore_errors=True)


def _project_args(project: Path, wheels: Path) -> list[str]:
    return [
        "--project",
        str(project),
        "--asgi",
        "shop.main:app",
        "--jobs",
        "shop.jobs:jobs",
        "--find-links",
        str(wheels),
    ]


@pytest.mark.processes
def test_project_mode_ships_the_project_its_requirements_app_and_jobs_and_rebuilds_when_it_changes(
    service_user: str, workdir: Path, kit_wheels: Path
) -> None:
    project, stage = sample_project(workdir / "shop-project"), workdir / "stage"
    (project / "notes.txt").write_text("untracked, not ignored: shipped as the tree on disk is\n")
    first = _deploy(ROOT, stage, *_project_args(project, kit_wheels))
    assert first.returncode == 0, first.stdout + first.stderr
    current = stage / "opt" / APP / "current"
    for name in ("shop/__init__.py", "shop/main.py", "shop/jobs.py", "requirements.txt", ".gitignore", "notes.txt"):
        assert (current / name).read_bytes() == (project / name).read_bytes(), name
    for name in ("app", "scheduler_proc", "gunicorn.conf.py", "secret.txt", ".git"):
        assert not (current / name).exists(), f"{name} was shipped"
    unit = (stage / "etc/systemd/system" / f"{APP}.service").read_text()
    assert (
        f"\nExecStart=/opt/{APP}/current/venv/bin/gunicorn -c python:scheduler_proc.gunicorn_conf shop.main:app\n"
        in unit
    ), unit
    assert " -m scheduler_proc.web.ready --prefix /scheduler " in unit, unit
    env = read_env(stage / "etc" / APP / "env")
    assert env["SCHEDULER_JOBS"] == "shop.jobs:jobs" and env["SCHEDULER_NAMESPACE"] == APP, env
    kit = subprocess.run([str(current / "venv/bin/python"), "-I", "-c", "import scheduler_proc, gunicorn"])
    assert kit.returncode == 0, "the kit was not installed from the wheelhouse"
    release = os.readlink(current)

    again = _deploy(ROOT, stage, *_project_args(project, kit_wheels))
    assert again.returncode == 0 and f"release {Path(release).name} is already built" in again.stdout, again.stdout
    assert os.readlink(current) == release

    jobs = project / "shop" / "jobs.py"
    jobs.write_text(jobs.read_text() + "\n# changed, not yet committed\n")
    changed = _deploy(ROOT, stage, *_project_args(project, kit_wheels))
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert os.readlink(current) != release, "a changed project file did not make a new release"
    assert (current / "shop/jobs.py").read_text().endswith("# changed, not yet committed\n")
    prefixed = _deploy(ROOT, stage, *_project_args(project, kit_wheels), "--health-prefix", "/ops")
    assert prefixed.returncode == 0, prefixed.stdout + prefixed.stderr
    unit = (stage / "etc/systemd/system" / f"{APP}.service").read_text()
    assert " -m scheduler_proc.web.ready --prefix /ops " in unit, unit


@pytest.mark.processes
def test_a_project_on_postgres_gets_the_kits_postgres_extra_at_the_version_its_requirements_name(
    service_user: str, workdir: Path, kit_wheels: Path
) -> None:
    project, stage = sample_project(workdir / "shop-project"), workdir / "stage"
    requirements = project / "requirements.txt"  # a project that pins no psycopg of its own
    requirements.write_text(
        "".join(line for line in requirements.read_text().splitlines(True) if "psycopg" not in line)
    )
    url = "postgresql://shop:pg-project-secret@10.0.0.5:5432/app"
    result = _deploy(ROOT, stage, *_project_args(project, kit_wheels), env={"POSTGRES": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pg-project-secret" not in result.stdout + result.stderr
    python = stage / "opt" / APP / "current/venv/bin/python"
    show = "import importlib.metadata as m; print(m.version('scheduler-proc'), m.version('psycopg'))"
    versions = subprocess.run([str(python), "-I", "-c", show], capture_output=True, text=True)
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split()[0] == kit_version(), versions.stdout  # the kit stays at the project's pin


@pytest.mark.processes
@pytest.mark.parametrize(
    "case, message",
    [
        ("link out", r"shop/settings\.py leads to /etc/passwd, outside the project; deploy runs as root"),
        ("no requirements", r"no requirements\.lock or requirements\.txt; add one .*scheduler-proc==VERSION"),
        ("no asgi", r"give the ASGI app to serve with --asgi \(ASGI=package\.module:app\)"),
        ("no kit", r"cannot import scheduler_proc: add scheduler-proc==VERSION to .*requirements\.txt"),
        ("world-writable", r"shop/jobs\.py may be written by any user \(mode 666\); .*chmod o-w it"),
        ("include out", r"requirements\.txt line 2 includes /etc/shadow, outside the project; pip reads it as root"),
    ],
)
def test_a_project_that_cannot_be_deployed_is_refused_with_the_fix(
    service_user: str, workdir: Path, case: str, message: str
) -> None:
    project, stage = sample_project(workdir / "shop-project", git=case != "link out"), workdir / "stage"
    args = ["--project", str(project), "--asgi", "shop.main:app", "--jobs", "shop.jobs:jobs"]
    if case == "link out":
        (project / "shop" / "settings.py").symlink_to("/etc/passwd")
    elif case == "no requirements":
        (project / "requirements.txt").unlink()
    elif case == "no asgi":
        args = args[:2] + args[4:]
    elif case == "world-writable":
        (project / "shop" / "jobs.py").chmod(0o666)
    elif case == "include out":
        (project / "requirements.txt").write_text("scheduler-proc\n-r /etc/shadow\n")
    else:
        (project / "requirements.txt").write_text("")
    result = _deploy(ROOT, stage, *args)
    assert result.returncode == 1 and re.search(message, result.stderr), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    written = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != "scheduler-proc-deploy.lock")
    if case != "no kit":  # refused before anything was written (but the deploy lock, taken first)
        assert written == [], written
    else:  # failed after the env file was written: it is gone again, the ownership record stays
        assert (
            not (stage / "etc" / APP / "env").exists()
            and (stage / "etc" / APP / ".deployed-by-scheduler-proc").exists()
        )


def test_undeploy_removes_only_what_deploy_put_in_opt_and_a_project_there_is_refused(workdir: Path) -> None:
    stage = workdir / "stage"
    deploy_module().ownership.claim(deploy_module().Layout(stage, APP), staged=True)  # as a first deploy does
    kept = stage / "opt" / APP / "src" / "shop"  # someone's project, kept in /opt/<app>
    kept.mkdir(parents=True)
    (kept / "main.py").write_text("precious\n")
    refused = _deploy(ROOT, stage, "--project", str(kept.parent), "--asgi", "shop.main:app", "--jobs", "shop.jobs:jobs")
    assert refused.returncode == 1 and f"lies in {stage / 'opt' / APP}, which deploy manages" in refused.stderr
    (stage / "opt" / APP / "releases" / "abc").mkdir(parents=True)
    (stage / "opt" / APP / "current").symlink_to("releases/abc")
    undeploy = _deploy(ROOT, stage, "undeploy")
    assert undeploy.returncode == 0, undeploy.stdout + undeploy.stderr
    assert (kept / "main.py").read_text() == "precious\n", "undeploy removed what deploy never made"
    assert not (stage / "opt" / APP / "releases").exists() and not (stage / "opt" / APP / "current").is_symlink()
    assert "kept" in undeploy.stdout and "src" in undeploy.stdout


@pytest.mark.processes
def test_a_deployed_project_serves_the_kits_readiness_and_runs_each_fire_once(
    service_user: str, workdir: Path, kit_wheels: Path
) -> None:
    # Not a git work tree: every file is shipped but caches and venvs.
    project, stage, port = sample_project(workdir / "shop-project", git=False), workdir / "stage", free_port()
    base = f"http://127.0.0.1:{port}"
    result = _deploy(ROOT, stage, *_project_args(project, kit_wheels), "--port", str(port), process=True)
    assert result.returncode == 0 and "healthy:" in result.stdout, result.stdout + result.stderr + _service_log(stage)
    assert httpx.get(f"{base}/scheduler/livez").status_code == 200
    assert httpx.get(f"{base}/scheduler/readyz").status_code == 200
    assert httpx.get(f"{base}/healthz").status_code == 404, "the project has no /healthz; nothing may need it"
    fires_file = stage / "var/lib" / APP / "fires.jsonl"
    fires = wait_for(lambda: len(read_fires(fires_file)) >= 3 and read_fires(fires_file), 30, "3 fires of the tick")
    seconds = [fire["scheduled_at"] for fire in fires]
    assert len(seconds) == len(set(seconds)), f"a fire ran twice: {seconds}"
    assert {fire["job"] for fire in fires} == {"tick"}

    # The unit's readiness gate (ExecStartPost), run as systemd would after a start: the kit's endpoints only.
    unit = parse_unit((stage / "etc/systemd/system" / f"{APP}.service").read_text())
    gate = unit["ExecStartPost"].split()
    gate[0] = str(stage / gate[0].lstrip("/"))
    ready_file = workdir / "web-ready"
    env = {"PATH": "/usr/bin:/bin", "BIND": f"127.0.0.1:{port}", "SCHEDULER_READY_FILE": str(ready_file)}
    ready = subprocess.run([*gate, "--timeout", "20"], env=env, capture_output=True, text=True, timeout=60)
    assert ready.returncode == 0 and ready_file.exists(), ready.stderr

    # Its check before gunicorn (ExecStartPre): gunicorn reads WEB_CONCURRENCY before any config, so a bad
    # value in the env file would end in gunicorn's traceback; the check names it and the fix first.
    check = unit["ExecStartPre"].split()
    check[0] = str(stage / check[0].lstrip("/"))
    bad = subprocess.run(check, env={**env, "WEB_CONCURRENCY": "abc"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "WEB_CONCURRENCY='abc'" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert subprocess.run(check, env=env, capture_output=True, text=True, timeout=60).returncode == 0

    undeploy = _deploy(ROOT, stage, "undeploy", process=True)
    assert undeploy.returncode == 0, undeploy.stdout + undeploy.stderr


def _service_log(stage: Path) -> str:
    log = stage / "run" / f"{APP}.service.log"
    return log.read_text()[-3000:] if log.exists() else ""


def _exposure(security: subprocess.CompletedProcess[str]) -> float:
    """The unit's overall exposure level, as ``systemd-analyze security`` printed it."""
    found = re.search(r"Overall exposure level for .*: (\d+\.\d+)", security.stdout + security.stderr)
    assert found is not None, security.stdout + security.stderr
    return float(found[1])


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/scheduler/livez", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _tree(root: Path) -> set[tuple[str, float, str]]:
    entries = set()
    for path in root.rglob("*"):
        if "venv" in path.parts:
            continue
        target = os.readlink(path) if path.is_symlink() else ""
        entries.add((str(path), path.lstat().st_mtime, target))
    return entries


@pytest.mark.processes
@pytest.mark.parametrize(
    "names, admins, password",
    [
        (("first", "second"), "", None),
        (("first", "second"), "requirepass admin-chose-this-one\n", "admin-chose-this-one"),
        (("first", "second"), "requirepass 'admin-quoted-one'\n", "admin-quoted-one"),
        (("demo2", "demo"), "", None),  # "# END demo" must not be found in "# END demo2"
        (("first", "second"), "user other on >other-app-pw ~other:* +@all\n", None),
    ],
    ids=["fresh", "admin's password", "admin's quoted password", "names that prefix each other", "an ACL user"],
)
def test_two_apps_with_a_local_redis_on_one_host_each_get_the_password_redis_takes(
    tmp_path: Path, names: tuple[str, str], admins: str, password: str | None
) -> None:
    """Redis has one password (the last ``requirepass`` wins): a second app's REDIS=local keeps the
    one already set (by the first app or the admin) instead of writing a new one that would lock the
    first app out; each env file holds the password Redis asks for, also after one app is purged."""
    deploy_tool = deploy_module()
    apps = [deploy_tool.Layout(tmp_path, name) for name in names]
    conf = apps[0].redis_conf
    conf.parent.mkdir(parents=True)
    conf.write_text(f"port 6379\n# requirepass foobared\n{admins}")
    for layout in [*apps, *apps]:  # a second deploy of each changes nothing
        layout.etc.mkdir(parents=True, exist_ok=True)
        if not layout.env_file.exists():
            layout.env_file.write_text("")
        deploy_tool.setup_local_redis(layout, staged=True)
    assert [conf.read_text().count(f"# BEGIN {name} ") for name in names] == [1, 1]
    assert _password_of(apps[0]) == _password_of(apps[1]) == (password or _password_of(apps[0]))
    _assert_each_app_gets_in(apps, tmp_path)
    deploy_tool.remove_local_redis(apps[1], staged=True)
    assert f"# BEGIN {names[1]} " not in conf.read_text() and f"# BEGIN {names[0]} " in conf.read_text()
    _assert_each_app_gets_in(apps, tmp_path)


@pytest.mark.processes
def test_an_env_file_that_an_earlier_local_redis_wrote_follows_the_password_redis_has(tmp_path: Path) -> None:
    """What the code before wrote for two apps (Redis on the second's password, both env files on the
    first's) heals on the next deploy of each, in either order."""
    deploy_tool = deploy_module()
    apps = [deploy_tool.Layout(tmp_path, name) for name in ("one", "two")]
    apps[0].redis_conf.parent.mkdir(parents=True)
    blocks = [
        "\n".join([f"# BEGIN {layout.app} (make deploy REDIS=local)", f"requirepass {pw}", f"# END {layout.app}"])
        for layout, pw in zip(apps, ("first-password", "second-password"), strict=True)
    ]
    apps[0].redis_conf.write_text("\n".join(blocks) + "\n")
    for layout in apps:
        layout.etc.mkdir(parents=True)
        layout.env_file.write_text(
            "# Added by make deploy REDIS=local\nSCHEDULER_REDIS_URL=redis://127.0.0.1:6379/0\n"
            "SCHEDULER_REDIS_PASSWORD=first-password\n"
        )
    for layout in reversed(apps):
        deploy_tool.setup_local_redis(layout, staged=True)
    assert _password_of(apps[0]) == _password_of(apps[1]) == "second-password"
    _assert_each_app_gets_in(apps, tmp_path)


@pytest.mark.parametrize(
    "line, message",
    [
        ('requirepass "two words"', r"line 2: the requirepass value has spaces, escapes or unbalanced quotes"),
        ('requirepass "unbalanced', r"line 2: the requirepass value has spaces"),
        ("user default on >secret-pw ~* +@all", r"line 2: `user default \.\.\.` may set Redis's password"),
        ("requirepass ab\x0ccd123", r"line 2: the requirepass value has spaces"),  # Redis reads one line
        ("aclfile /etc/redis/users.acl", r"line 2: `aclfile \.\.\.` may set Redis's password"),
    ],
)
def test_a_redis_password_make_deploy_cannot_read_is_refused_not_guessed(
    tmp_path: Path, line: str, message: str
) -> None:
    """Copying half a quoted password would stop redis-server from starting; refused, nothing written,
    and the message names the file and line but not the value."""
    deploy_tool = deploy_module()
    layout = deploy_tool.Layout(tmp_path, "demo")
    layout.redis_conf.parent.mkdir(parents=True)
    layout.redis_conf.write_text(f"port 6379\n{line}\n")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("")
    with pytest.raises(deploy_tool.DeployError, match=message) as refused:
        deploy_tool.setup_local_redis(layout, staged=True)
    assert "secret-pw" not in str(refused.value) and "two words" not in str(refused.value)
    assert layout.redis_conf.read_text() == f"port 6379\n{line}\n" and layout.env_file.read_text() == ""


def _password_of(layout: Layout) -> str:
    return str(read_env(layout.env_file)["SCHEDULER_REDIS_PASSWORD"])


def _assert_each_app_gets_in(apps: list[Layout], directory: Path) -> None:
    """A real redis-server on the apps' redis.conf lets each app in with its env file's password."""
    import redis
    from redis_support import REDIS_SERVER

    port = free_port()
    server = subprocess.Popen(
        [REDIS_SERVER, str(apps[0].redis_conf), "--port", str(port), "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for layout in apps:
            client = redis.Redis(port=port, password=_password_of(layout), socket_timeout=1)
            wait_for(partial(_answers, client), 10, f"{layout.app} let in by redis-server")
    finally:
        server.kill()
        server.wait()


def _answers(client: redis.Redis) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.AuthenticationError as exc:
        raise AssertionError(f"redis-server refused the password: {exc}") from None
    except redis.ConnectionError:
        return False


# -- project mode: what is shipped and how it is run, decided before anything is built ---------------
def test_a_project_with_its_own_gunicorn_conf_that_names_the_app_needs_no_asgi(tmp_path: Path) -> None:
    from scheduler_proc.deploy.project import project_source

    project = write_files(
        tmp_path,
        {
            "gunicorn.conf.py": 'from scheduler_proc.gunicorn_conf import *  # noqa\nwsgi_app = "shop.main:app"\n',
            "requirements.lock": "scheduler-proc==0.1.0\n",
            "requirements.txt": "scheduler-proc\n",
            "shop/main.py": "",
        },
    )
    source = project_source(project, "", "")
    assert (source.config, source.requirements, source.exec_start()) == (
        "gunicorn.conf.py",
        "requirements.lock",
        "-c gunicorn.conf.py",
    )
    assert project_source(project, "shop.other:app", "").exec_start() == "-c gunicorn.conf.py shop.other:app"


def test_a_gunicorn_conf_that_does_not_name_the_app_needs_asgi(tmp_path: Path) -> None:
    from scheduler_proc.deploy.project import ProjectError, project_source

    project = write_files(tmp_path, {"gunicorn.conf.py": "workers = 2\n", "requirements.txt": "scheduler-proc\n"})
    with pytest.raises(ProjectError, match=r"--asgi \(ASGI=package\.module:app\), since its gunicorn\.conf\.py does"):
        project_source(project, "", "")


def test_outside_git_every_file_ships_but_caches_venvs_and_build_output(tmp_path: Path) -> None:
    from scheduler_proc.deploy.project import project_source

    project = write_files(
        tmp_path,
        {
            "requirements.txt": "scheduler-proc\n",
            "shop/main.py": "",
            "shop/data/prices.csv": "",
            ".venv/bin/python": "",
            "venv/lib/x.py": "",
            "shop/__pycache__/main.cpython-311.pyc": "",
            "shop/old.pyc": "",
            "node_modules/x/index.js": "",
            "build/lib/shop/main.py": "",
            "dist/shop.whl": "",
        },
    )
    (project / "shop/static").symlink_to("data")  # a link inside the project is kept
    source = project_source(project, "shop.main:app", "")
    assert sorted(map(str, source.files)) == ["requirements.txt", "shop/data/prices.csv", "shop/main.py", "shop/static"]
    release = tmp_path / "release"
    source.copy_to(release)
    assert os.readlink(release / "shop/static") == "data"
    source.fingerprint(hashlib.sha256())  # a link to a directory is hashed as a link (it crashed reading it)


@pytest.mark.parametrize(
    "pyproject, requirements, installed",
    [
        ('[project]\nname = "shop"\n', "scheduler-proc==0.1.0\n", True),
        ('[project]\nname = "shop"\n', "scheduler-proc==0.1.0\nShop==1.0\n", False),
        ('[project]\nname = "shop"\n', "scheduler-proc==0.1.0\n-e .\n", False),
        ("[tool.ruff]\nline-length = 100\n", "scheduler-proc==0.1.0\n", False),
    ],
    ids=["a project", "its lock names it", "its lock installs .", "only tool settings"],
)
def test_the_project_itself_is_installed_only_when_pip_can_and_its_lock_does_not(
    tmp_path: Path, pyproject: str, requirements: str, installed: bool
) -> None:
    from scheduler_proc.deploy.project import project_source

    project = write_files(tmp_path, {"pyproject.toml": pyproject, "requirements.txt": requirements, "shop/main.py": ""})
    assert project_source(project, "shop.main:app", "").install_itself is installed


def test_a_project_file_named_like_the_releases_own_venv_is_refused(tmp_path: Path) -> None:
    from scheduler_proc.deploy.project import ProjectError, project_source

    project = write_files(
        tmp_path, {"requirements.txt": "scheduler-proc\n", "venv/settings.py": "", "shop/main.py": ""}
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    with pytest.raises(ProjectError, match=r"venv/settings\.py would overwrite the release's own 'venv'"):
        project_source(project, "shop.main:app", "")


def test_without_a_project_an_installed_kit_says_to_give_one(tmp_path: Path) -> None:
    """``scheduler-proc deploy`` from a pip install has no demo app beside it: it asks for --project."""
    from scheduler_proc.deploy.project import ProjectError, template_source

    (tmp_path / "scheduler_proc").mkdir()
    with pytest.raises(
        ProjectError, match=r"is not one \(the kit is installed there\); give your project with --project"
    ):
        template_source(tmp_path, "")


# -- issue 23: a root deploy that can never harm the host ---------------------------------------------
def _stage_host(stage: Path) -> dict[str, bytes]:
    """A staged host with what a Debian VM has: users in etc/passwd and etc/group, redis's and ssh's
    files, a unit, and someone's /opt/root. Returns every file's content, to compare afterwards."""
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
        "redis:x:102:109::/var/lib/redis:/usr/sbin/nologin\nsshd:x:103:65534::/run/sshd:/usr/sbin/nologin\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\nredis:x:109:\n",
        "etc/redis/redis.conf": "port 6379\n",
        "var/lib/redis/dump.rdb": "REDIS0011",
        "opt/redis/keep.txt": "someone's\n",
        "etc/ssh/sshd_config": "PermitRootLogin no\n",
        "usr/lib/systemd/system/ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n",
        "opt/root/keep.txt": "root's own\n",
    }
    for name, text in files.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    return _contents(stage)


def _contents(stage: Path) -> dict[str, bytes]:
    return {str(p.relative_to(stage)): p.read_bytes() for p in stage.rglob("*") if p.is_file() and "run" not in p.parts}


def _tool(stage: Path, app: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-B", "-m", "scheduler_proc.deploy", "--app", app, "--destdir", str(stage), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    "app, reason",
    [
        ("redis", r"the system user 'redis' exists"),
        ("ssh", r"the unit .*ssh\.service exists"),
        ("root", r"the system user 'root' exists"),
        ("nobody", r"the system user 'nobody' exists"),
    ],
)
def test_an_app_name_deploy_did_not_create_is_refused_by_deploy_rollback_and_undeploy(
    workdir: Path, app: str, reason: str
) -> None:
    stage = workdir / "stage"
    before = _stage_host(stage)
    for action in (["deploy"], ["rollback"], ["undeploy"], ["--purge", "undeploy"]):
        result = _tool(stage, app, *action)
        assert result.returncode == 1, (action, result.stdout + result.stderr)
        assert re.search(reason, result.stderr) and "not created by make deploy" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert _contents(stage) == before, f"{action} changed what deploy did not create"


def test_undeploy_removes_only_what_the_ownership_record_lists(workdir: Path) -> None:
    """A directory of the app's name made after the first deploy (not in the record) stays."""
    stage = workdir / "stage"
    ownership = deploy_module().ownership
    layout = deploy_module().Layout(stage, "shop")
    record = ownership.claim(layout, staged=True)
    layout.releases.joinpath("abc").mkdir(parents=True)
    layout.current.symlink_to("releases/abc")
    ownership.save(layout, ownership.Record(**{**record.__dict__, "dirs": ("/opt/shop", "/etc/shop")}))
    assert oct(ownership.record_path(layout).stat().st_mode & 0o777) == "0o600"
    layout.state.mkdir(parents=True)
    (layout.state / "theirs").write_text("not deploy's\n")
    purge = _tool(stage, "shop", "--purge", "undeploy")
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not layout.opt.exists() and not layout.etc.exists()
    assert (layout.state / "theirs").read_text() == "not deploy's\n"
    assert "kept " + str(layout.state) in purge.stdout, purge.stdout
    again = _tool(stage, "shop", "undeploy")  # the record is gone with the purge: nothing is deploy's now
    assert again.returncode == 1 and "not created by make deploy" in again.stderr, again.stderr


def test_a_redis_conf_that_is_a_symlink_is_refused_not_written_through(tmp_path: Path) -> None:
    tool = deploy_module()
    layout = tool.Layout(tmp_path, "demo")
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    victim.chmod(0o600)
    layout.redis_conf.parent.mkdir(parents=True)
    layout.redis_conf.symlink_to(victim)
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("")
    with pytest.raises(tool.DeployError, match=r"redis\.conf is a symbolic link.*will not write through it"):
        tool.setup_local_redis(layout, staged=True)
    assert victim.read_text() == "root's file\n" and oct(victim.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(tool.DeployError, match=r"is a symbolic link"):
        tool.remove_local_redis(layout, staged=True)


@pytest.mark.parametrize(
    "redis_url",
    [
        "redis://:pw%0ALD_PRELOAD%3Dx.so%0APYTHONPATH%3Dx@10.0.0.5:6379/0",
        "redis://us%0Der:pw@10.0.0.5:6379/0",
        "redis://:pw%00x@10.0.0.5:6379/0",
    ],
)
def test_a_redis_url_whose_decoded_parts_hold_a_control_character_is_refused(workdir: Path, redis_url: str) -> None:
    stage = workdir / "stage"
    result = _tool(stage, "shop", "--redis", redis_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert re.search(r"REDIS: .*(password|user name) holds a control character.*percent-encod", result.stderr), (
        result.stderr
    )
    assert "LD_PRELOAD" not in result.stderr and "pw" not in result.stderr.split("REDIS")[-1][:0]
    assert not stage.exists() or not any(stage.rglob("env"))


def test_env_and_redis_conf_changes_are_rolled_back_when_the_deploy_fails(workdir: Path) -> None:
    tool = deploy_module()
    layout = tool.Layout(workdir / "stage", "shop")
    layout.redis_conf.parent.mkdir(parents=True)
    layout.redis_conf.write_text("port 6379\n")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("BIND=127.0.0.1:8000\n")
    with pytest.raises(tool.DeployError, match="the build failed"), tool.restored_on_failure(layout):
        tool.setup_local_redis(layout, staged=True)
        assert "requirepass" in layout.redis_conf.read_text()
        raise tool.DeployError("the build failed")
    assert layout.redis_conf.read_text() == "port 6379\n"
    assert layout.env_file.read_text() == "BIND=127.0.0.1:8000\n"
    layout.env_file.unlink()
    with pytest.raises(tool.DeployError), tool.restored_on_failure(layout):
        layout.env_file.write_text("new\n")
        raise tool.DeployError("the build failed")
    assert not layout.env_file.exists(), "an env file the failed deploy created stays"


def test_release_files_are_root_owned_without_group_or_world_write_and_the_id_covers_modes(tmp_path: Path) -> None:
    from scheduler_proc.deploy.project import project_source

    project = write_files(tmp_path / "p", {"requirements.txt": "scheduler-proc\n", "shop/main.py": "", "run.sh": ""})
    (project / "run.sh").chmod(0o775)
    (project / "shop/main.py").chmod(0o664)
    os.chown(project / "shop/main.py", 1234, 1234)
    source = project_source(project, "shop.main:app", "")
    before = hashlib.sha256()
    source.fingerprint(before)
    release = tmp_path / "release"
    source.copy_to(release)
    for name, mode in (("shop/main.py", 0o644), ("run.sh", 0o755), ("requirements.txt", 0o644)):
        st = (release / name).stat()
        assert (oct(st.st_mode & 0o777), st.st_uid, st.st_gid) == (oct(mode), 0, 0), name
    (project / "shop/main.py").chmod(0o644)
    after = hashlib.sha256()
    source.fingerprint(after)
    assert before.hexdigest() != after.hexdigest(), "fixing a mode does not make a new release"


def test_a_second_deploy_while_one_runs_is_refused_with_the_holder(workdir: Path) -> None:
    import fcntl

    stage = workdir / "stage"
    lock = stage / "run" / "scheduler-proc-deploy.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(f"{os.getpid()}\n")
        held.flush()
        second = _tool(stage, "shop", "undeploy")
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another deploy (pid {os.getpid()}) is running on this host" in second.stderr, second.stderr
    assert oct(lock.stat().st_mode & 0o777) == "0o600"
    lock.unlink()
    lock.symlink_to(workdir / "elsewhere")
    linked = _tool(stage, "shop", "undeploy")
    assert linked.returncode == 1 and "is a symbolic link" in linked.stderr, linked.stderr
    assert not (workdir / "elsewhere").exists()


def test_make_command_line_variables_cannot_run_a_shell(workdir: Path) -> None:
    pwned = workdir / "pwned"
    for variable in ("APP", "PORT", "DESTDIR", "CMD", "MEMORY_MAX"):
        result = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "status", f"{variable}=x$(shell touch {pwned})"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DESTDIR": str(workdir / "stage")} if variable != "DESTDIR" else None,
        )
        assert not pwned.exists(), f"make {variable}=$(shell ...) ran the shell"
        assert result.returncode != 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--python", "/etc"], r"'/etc' is not an executable given by its absolute path \(a file, not a directory\)"),
        (["--health-timeout", "nan"], r"'nan' is not a number of seconds from 1 to 3600"),
        (["--health-timeout", "inf"], r"'inf' is not a number of seconds"),
        (["--health-timeout", "-5"], r"'-5' is not a number of seconds"),
        (["--bind", "$(id):80"], r"'\$\(id\)' is not a host name or IP address"),
        (["--bind", "a#b:8000"], r"'a#b' is not a host name or IP address"),
        (["--bind", "0.0.0.0:80"], r"port 80 is below 1024: the service runs without privileges"),
        (["--port", "443"], r"port 443 is below 1024: the service runs without privileges"),
        (["--port", "\u0668\u0660\u0660\u0660"], r"is not a TCP port; use a number"),
        (["--bind", "0.0.0.0:\uff18\uff10\uff10\uff10"], r"is not host:port"),
        (["--memory-max", "lots"], r"'lots' is not a memory size"),
        (["--tasks-max", "0"], r"'0' is not a number of tasks"),
        (["--limit-nofile", "12"], r"'12' is not a number of open files from 1024"),
    ],
)
def test_bad_deploy_arguments_get_one_clear_line(workdir: Path, args: list[str], message: str) -> None:
    result = _tool(workdir / "stage", "shop", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert re.search(message, result.stderr), result.stderr


def _unit_for(tmp_path: Path, env: str, **limits: str) -> str:
    from scheduler_proc.deploy import tool

    layout = Layout(tmp_path, "shop")
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text(env)
    tool.install_unit(layout, False, limits=tool.Limits(**limits) if limits else tool.Limits())
    return layout.unit.read_text()


def test_the_unit_has_resource_limits_with_defaults_and_settable(tmp_path: Path) -> None:
    unit = parse_unit(_unit_for(tmp_path, "BIND=127.0.0.1:8000\n"))
    assert (unit["MemoryMax"], unit["TasksMax"], unit["LimitNOFILE"]) == ("1G", "512", "16384")
    unit = parse_unit(_unit_for(tmp_path, "BIND=127.0.0.1:8000\n", memory_max="2G", tasks_max="64", nofile="4096"))
    assert (unit["MemoryMax"], unit["TasksMax"], unit["LimitNOFILE"]) == ("2G", "64", "4096")


@pytest.mark.parametrize(
    "env, allow, why",
    [
        ("BIND=127.0.0.1:8000\n", "localhost", r"jobs can reach only this host"),
        (
            "BIND=127.0.0.1:8000\nSCHEDULER_REDIS_URL=redis://10.0.0.5:6379/0\n",
            "localhost 10.0.0.5",
            r"jobs can reach only this host and 10\.0\.0\.5",
        ),
        ("BIND=127.0.0.1:8000\nSCHEDULER_REDIS_SENTINELS=10.0.0.7:26379\n", None, r"Sentinel names the master"),
        (
            "BIND=127.0.0.1:8000\nSCHEDULER_REDIS_URL=redis://10.0.0.5:6379/0\nSCHEDULER_REDIS_CLUSTER=true\n",
            None,
            r"Redis Cluster names its other nodes",
        ),
    ],
)
def test_the_address_allow_list_covers_every_redis_host_or_says_why_not(
    tmp_path: Path, env: str, allow: str | None, why: str
) -> None:
    tool = deploy_module()
    text = _unit_for(tmp_path, env)
    unit = parse_unit(text)
    if allow is None:
        assert "IPAddressDeny" not in unit and re.search(why, text), text
    else:
        assert (unit["IPAddressDeny"], unit["IPAddressAllow"]) == ("any", allow), text
    assert re.search(why, tool.network_note(read_env(tool.Layout(tmp_path, "shop").env_file)))
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={tmp_path}", "shop.service"],
        capture_output=True,
        text=True,
    )
    exposure = _exposure(security)
    # As the unit's comment and docs/deploy.md say: 0.9 localhost only, 1.0 with Redis's address, 1.1 without a list.
    assert exposure <= (0.9 if allow == "localhost" else 1.0 if allow else 1.1), security.stdout


def test_an_install_from_before_the_record_is_adopted_but_its_user_is_not_recorded_as_deploys(tmp_path: Path) -> None:
    tool = deploy_module()
    layout = tool.Layout(tmp_path, "kit-legacy-adopt")
    layout.unit.parent.mkdir(parents=True)
    layout.unit.write_text("# Installed by `make deploy`; edit scheduler_proc/deploy/app.service.in in the kit\n")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("BIND=127.0.0.1:8000\n")
    layout.opt.mkdir(parents=True)
    layout.current.symlink_to("releases/abc")
    record = tool.ownership.claim(layout, staged=False)
    assert record.user_created is False and record.dirs == (
        "/opt/kit-legacy-adopt",
        "/etc/kit-legacy-adopt",
        "/var/lib/kit-legacy-adopt",
    )
    assert tool.ownership.load(layout) == record
    layout.unit.write_text("[Unit]\n")  # a unit someone else wrote: without the record, not deploy's
    tool.ownership.record_path(layout).unlink()
    with pytest.raises(tool.DeployError, match=r"the unit .* exists.*not created by make deploy"):
        tool.ownership.claim(layout, staged=False)
