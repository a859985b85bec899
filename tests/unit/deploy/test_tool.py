"""The deploy tool's own steps and checks (scheduler_proc/deploy/tool.py), in process on layouts
staged under tmp_path: every argument it refuses with one line, the env file and unit it renders,
the network policy, the release links, pruning, what undeploy may remove, and the files a failed
deploy puts back. Whole deploys with a venv and a running service are in
tests/integration/test_deploy.py."""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_proc.deploy import ownership, tool
from scheduler_proc.deploy.layout import DeployError, Layout, parse_unit, read_env
from scheduler_proc.deploy.project import KIT_CONFIG, Source


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """``tool.main`` sets the process umask for the release it builds; the tests' process keeps its own."""
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line argparse prints for ``argv``, which must be refused as bad usage (exit 2)."""
    with pytest.raises(SystemExit) as exit_:
        tool.main(list(argv))
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error.strip().splitlines()[-1]


# --- arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--app", "x; rm -rf /"], r"'x; rm -rf /' is not a usable app name: .*\(APP=myapp\)"),
        (["--app", "Shop"], r"is not a usable app name"),
        (["--app", "a" * 33], r"is not a usable app name"),
        (["--destdir", "/"], r"DESTDIR=/ is the machine itself"),
        (["--destdir", "/tmp/a\nb"], r"is not a directory name; use DESTDIR=/tmp/stage"),
        (["--redis", "http://10.0.0.5:6379"], r"REDIS must be local \(install one here\) or a URL"),
        (["--redis", "redis://10.0.0.5:0/0"], r"REDIS must be local"),
        (["--redis", "redis://:a b@10.0.0.5/0"], r"REDIS must be local"),
        (["--redis", "redis://:a%0Ab@10.0.0.5/0"], r"REDIS: the URL's password holds a control character"),
        (["--redis", "redis://us%22er@10.0.0.5/0"], r"REDIS: the URL's user name holds a control character"),
        (["--postgres", "redis://10.0.0.5:6379/0"], r"POSTGRES must be a PostgreSQL URL such as postgresql://"),
        (["--postgres", "postgresql://u:a%0Ab@10.0.0.5/db"], r"POSTGRES: the URL's password holds a control"),
        (["--port", "80"], r"port 80 is below 1024: the service runs without privileges"),
        (["--port", "65536"], r"'65536' is not a TCP port"),
        (["--port", "\u0668\u0660\u0660\u0660"], r"is not a TCP port"),
        (["--bind", "$(id):8000"], r"'\$\(id\)' is not a host name or IP address"),
        (["--bind", "[::1]]:8000"], r"is not a host name or IP address"),
        (["--bind", "0.0.0.0:http"], r"'0.0.0.0:http' is not host:port"),
        (["--bind", "0.0.0.0:22"], r"port 22 is below 1024"),
        (["--health-timeout", "0.5"], r"'0.5' is not a number of seconds from 1 to 3600"),
        (["--health-timeout", "1e3"], r"'1e3' is not a number of seconds"),
        (["--memory-max", "0G"], r"'0G' is not a memory size such as 512M"),
        (["--memory-max", "1g"], r"is not a memory size"),
        (["--tasks-max", "15"], r"'15' is not a number of tasks from 16 to 100000"),
        (["--limit-nofile", "2000000"], r"'2000000' is not a number of open files"),
        (["--python", "python3"], r"'python3' is not an executable given by its absolute path"),
        (["--python", "/etc"], r"is not an executable given by its absolute path"),
        (["--project", "/no/such/dir"], r"'/no/such/dir' is not a directory; give your project's directory"),
        (["--find-links", "/no/such/dir"], r"is not a directory; give a directory of wheels"),
        (["--asgi", "shop.main"], r"'shop.main' is not an app path; use package.module:attribute"),
        (["--asgi", "shop.main:app; id"], r"is not an app path"),
        (["--jobs", "shop jobs"], r"'shop jobs' is not a jobs path: .*\(JOBS=shop.jobs:jobs\)"),
        (["--health-prefix", "scheduler/"], r"is not the path the kit's router is mounted at"),
    ],
)
def test_a_bad_argument_is_refused_in_one_line_that_says_what_would_do(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert re.search(message, _refusal(capsys, *argv, "rollback"))


def test_jobs_go_with_a_project_and_an_app_path_only_with_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert "argument --jobs: required with --project" in _refusal(capsys, "--project", str(tmp_path))
    assert "argument --asgi: only with --project (PROJECT=/path)" in _refusal(capsys, "--asgi", "shop.main:app")
    assert "argument --jobs: only with --project" in _refusal(capsys, "--jobs", "shop.jobs:jobs")


def test_redis_and_postgres_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    postgres = "postgresql://shop:pw@10.0.0.5:5432/app"
    for redis in ("local", "redis://10.0.0.9:6379/0"):
        refusal = _refusal(capsys, "--redis", redis, "--postgres", postgres, "deploy")
        assert refusal.endswith(
            "REDIS and POSTGRES are both given; the cluster coordinates through one store: give one"
        )
        assert "pw" not in refusal


def test_good_arguments_are_taken_as_given(tmp_path: Path) -> None:
    args = tool._parser().parse_args(
        [
            "--app",
            "shop-2_b",
            "--bind",
            "[::1]:8443",
            "--redis",
            "rediss://worker:p%40ss@redis.internal:6380/1",
            "--python",
            sys.executable,
            "--health-timeout",
            "12.5",
            "--memory-max",
            "infinity",
            "--tasks-max",
            "16",
            "--limit-nofile",
            "1048576",
            "--project",
            str(tmp_path),
            "--asgi",
            "shop.main:create_app()",
            "--jobs",
            "shop.jobs:jobs",
            "--health-prefix",
            "/ops/scheduler",
            "cli",
            "history",
            "tick",
        ]
    )
    assert (args.action, args.cli_args, args.bind, args.port) == ("cli", ["history", "tick"], "[::1]:8443", 8000)
    assert (args.health_timeout, args.memory_max, args.tasks_max, args.limit_nofile) == (
        12.5,
        "infinity",
        "16",
        "1048576",
    )
    assert (args.project, args.asgi, args.health_prefix) == (
        tmp_path.resolve(),
        "shop.main:create_app()",
        "/ops/scheduler",
    )


# --- the env file and the unit --------------------------------------------------------------------
def test_the_env_file_is_written_once_0640_with_the_bind_and_a_projects_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(tmp_path, "shop")
    tool.install_env(layout, "127.0.0.1:9000", "shop", "shop.jobs:jobs")
    text = layout.env_file.read_text()
    assert not re.search(r"@[A-Z_]+@", text), text
    assert text.startswith("# /etc/shop/env: settings of the shop service")
    env = read_env(layout.env_file)
    assert (env["BIND"], env["SCHEDULER_JOBS"], env["SCHEDULER_NAMESPACE"]) == (
        "127.0.0.1:9000",
        "shop.jobs:jobs",
        "shop",
    )
    assert stat.S_IMODE(layout.env_file.stat().st_mode) == 0o640
    layout.env_file.write_text(text + "SCHEDULER_LOG_LEVEL=debug\n")  # the operator's edit
    capsys.readouterr()
    tool.install_env(layout, "0.0.0.0:8000", "shop", "other.jobs:jobs")
    assert layout.env_file.read_text() == text + "SCHEDULER_LOG_LEVEL=debug\n"
    out = capsys.readouterr().out
    assert "exists; leaving it as it is" in out and "has SCHEDULER_JOBS=shop.jobs:jobs, not other.jobs:jobs" in out


def test_a_bind_the_env_file_cannot_carry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"^BIND: the value holds"):
        tool.install_env(Layout(tmp_path, "shop"), "127.0.0.1:8000\nSCHEDULER_X=1", "shop")


def _unit(
    tmp_path: Path,
    env: str,
    redis_local: bool = False,
    gunicorn_args: str = "-c gunicorn.conf.py",
    prefix: str = "/scheduler",
    limits: tool.Limits | None = None,
) -> tuple[bool, dict[str, str], str]:
    """install_unit's answer, the unit's keys and its text, for an app whose env file is ``env``."""
    layout = Layout(tmp_path, "shop")
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text(env)
    changed = tool.install_unit(layout, redis_local, gunicorn_args, prefix, limits or tool.Limits())
    text = layout.unit.read_text()
    return changed, parse_unit(text), text


def test_the_unit_is_rendered_for_the_app_and_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    changed, unit, text = _unit(tmp_path, "BIND=127.0.0.1:8000\n", False)
    assert changed and not re.search(r"@[A-Z_]+@", text), text
    assert unit["ExecStart"] == "/opt/shop/current/venv/bin/gunicorn -c gunicorn.conf.py"
    assert (unit["User"], unit["WorkingDirectory"], unit["EnvironmentFile"]) == (
        "shop",
        "/opt/shop/current",
        "/etc/shop/env",
    )
    assert unit["TimeoutStopSec"] == "75"  # gunicorn's 30 s, the jobs' grace (the same), 15 s margin
    assert unit["After"] == "network-online.target" and unit["Wants"] == "network-online.target"
    assert stat.S_IMODE((tmp_path / "etc/systemd/system/shop.service").stat().st_mode) == 0o644
    assert _unit(tmp_path, "BIND=127.0.0.1:8000\n", False)[0] is False


def test_the_unit_follows_a_local_redis_the_projects_command_prefix_and_limits(tmp_path: Path) -> None:
    limits = tool.Limits("2G", "64", "4096")
    command = f"-c {KIT_CONFIG} shop.main:app"
    _, unit, _ = _unit(tmp_path, "BIND=127.0.0.1:8000\n", True, gunicorn_args=command, prefix="/ops", limits=limits)
    assert unit["After"] == unit["Wants"] == "network-online.target redis-server.service"
    assert unit["ExecStart"].endswith(f"gunicorn -c {KIT_CONFIG} shop.main:app")
    assert "--prefix /ops " in unit["ExecStartPost"]
    assert (unit["MemoryMax"], unit["TasksMax"], unit["LimitNOFILE"]) == ("2G", "64", "4096")


@pytest.mark.parametrize(
    ("env", "timeout_stop"),
    [
        ("GRACEFUL_TIMEOUT=10\n", "35"),
        ("GRACEFUL_TIMEOUT=10\nSCHEDULER_STOP_GRACE=100\n", "125"),
        ("SCHEDULER_STOP_GRACE=0\n", "45"),
    ],
)
def test_the_stop_timeout_covers_gunicorns_grace_and_the_jobs(tmp_path: Path, env: str, timeout_stop: str) -> None:
    assert _unit(tmp_path, env, False)[1]["TimeoutStopSec"] == timeout_stop


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("GRACEFUL_TIMEOUT=soon\n", r"env: GRACEFUL_TIMEOUT='soon' is not a number of seconds from 0 to 86400"),
        ("GRACEFUL_TIMEOUT=90000\n", r"GRACEFUL_TIMEOUT='90000' is not a number of seconds"),
        ("SCHEDULER_STOP_GRACE=-1\n", r"env: SCHEDULER_STOP_GRACE='-1' is invalid: .*; fix that line"),
    ],
)
def test_a_bad_timeout_in_the_env_file_names_the_line_to_fix(tmp_path: Path, env: str, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        _unit(tmp_path, env, False)


@pytest.mark.parametrize(
    ("env", "policy"),
    [
        ("", "IPAddressDeny=any\nIPAddressAllow=localhost"),
        ("SCHEDULER_REDIS_URL=redis://127.0.0.1:6379/0\n", "IPAddressDeny=any\nIPAddressAllow=localhost"),
        ("SCHEDULER_REDIS_URL=unix:///run/redis/redis.sock\n", "IPAddressDeny=any\nIPAddressAllow=localhost"),
        ("SCHEDULER_REDIS_URL=redis://:pw@[fd00::5]:6379/0\n", "IPAddressDeny=any\nIPAddressAllow=localhost fd00::5"),
        ("BIND=0.0.0.0:8000\n", None),
        ("SCHEDULER_REDIS_URL=redis://redis.internal:6379/0\n", None),
        ("SCHEDULER_REDIS_SENTINELS=10.0.0.7:26379\n", None),
        ("SCHEDULER_REDIS_URL=redis://10.0.0.5/0\nSCHEDULER_REDIS_CLUSTER=yes\n", None),
        ("SCHEDULER_POSTGRES_URL=postgresql://u@127.0.0.1/app\n", "IPAddressDeny=any\nIPAddressAllow=localhost"),
        (
            "SCHEDULER_POSTGRES_URL=postgresql://u@10.0.0.5:5432/app\n",
            "IPAddressDeny=any\nIPAddressAllow=localhost 10.0.0.5",
        ),
        ("SCHEDULER_POSTGRES_URL=postgresql://u@db.internal/app\n", None),
    ],
)
def test_an_address_list_is_given_only_when_every_peer_is_fixed(env: str, policy: str | None) -> None:
    values = dict(line.split("=", 1) for line in env.splitlines())
    rendered = tool.network_policy(values)
    heading = rendered.splitlines()[0]
    assert heading == f"# {tool.network_note(values)}."
    if policy is None:
        assert heading.startswith("# no IPAddressDeny: ") and "IPAddressAllow" not in rendered
    else:
        assert rendered.endswith(f".\n{policy}") and heading.startswith("# IPAddressDeny=any: ")
    if "redis.internal" in env:
        assert "names the host 'redis.internal', whose address may change" in heading
    if "db.internal" in env:
        assert "SCHEDULER_POSTGRES_URL names the host 'db.internal', whose address may change" in heading
    if "10.0.0.5:5432" in env:
        assert "can reach only this host and 10.0.0.5 (its PostgreSQL)" in heading


# --- releases -----------------------------------------------------------------------------------
def _release(layout: Layout, name: str, mtime: float) -> Path:
    release = layout.releases / name
    release.mkdir(parents=True)
    (release / ".complete").write_text("built\n")
    os.utime(release / ".complete", (mtime, mtime))
    return release


def test_switching_moves_current_and_keeps_the_one_before_as_previous(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    first, second = _release(layout, "aaa", 1), _release(layout, "bbb", 2)
    assert tool.switch(layout, first) is True
    assert os.readlink(layout.current) == "releases/aaa" and not layout.previous.exists()
    assert tool.switch(layout, first) is False
    assert tool.switch(layout, second) is True
    assert (os.readlink(layout.current), os.readlink(layout.previous)) == ("releases/bbb", "releases/aaa")
    assert sorted(p.name for p in layout.opt.iterdir()) == ["current", "previous", "releases"]  # no .new left


def test_pruning_keeps_the_newest_releases_and_never_current_or_previous(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    for number in range(8):
        _release(layout, f"r{number}", 1000 + number)
    (layout.releases / "unfinished").mkdir()  # an interrupted build: not a release, not pruned here
    tool.switch(layout, layout.releases / "r0")
    tool.switch(layout, layout.releases / "r1")
    tool.prune(layout)
    kept = sorted(p.name for p in layout.releases.iterdir())
    assert kept == ["r0", "r1", "r3", "r4", "r5", "r6", "r7", "unfinished"]


@pytest.mark.processes  # asks the interpreter its version
def test_the_same_code_and_interpreter_make_the_same_release_id(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    source = Source(tmp_path, (Path("main.py"),), "requirements.lock", "gunicorn.conf.py", "", False, "", False)
    rid = tool.release_id(sys.executable, source)
    assert len(rid) == 12 and int(rid, 16) >= 0 and tool.release_id(sys.executable, source) == rid
    # The PostgreSQL driver in its venv makes it another release (an env file moved to PostgreSQL).
    assert tool.release_id(sys.executable, source, postgres=True) != rid
    (tmp_path / "main.py").write_text("changed = True\n")
    assert tool.release_id(sys.executable, source) != rid


# --- what undeploy may remove ---------------------------------------------------------------------
def test_only_the_apps_own_directories_can_be_removed(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    for path in (layout.releases, layout.etc, layout.state, layout.at("/etc/redis")):
        path.mkdir(parents=True)
    for other in (layout.at("/etc/redis"), layout.opt, tmp_path, layout.at("/var/lib")):
        with pytest.raises(DeployError, match=r"refusing to remove .*: it is not one of shop's own directories"):
            tool._remove_own(layout, other)
    assert layout.at("/etc/redis").is_dir()
    tool._remove_own(layout, layout.state)
    assert not layout.state.exists()


def test_an_own_directory_that_became_a_link_is_not_followed(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("")
    layout.state.parent.mkdir(parents=True)
    layout.state.symlink_to(victim)
    with pytest.raises(DeployError, match=r"refusing to remove"):
        tool._remove_own(layout, layout.state)
    assert (victim / "keep").exists()


def test_removing_releases_keeps_what_deploy_did_not_put_in_opt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(tmp_path, "shop")
    tool.switch(layout, _release(layout, "aaa", 1))
    (layout.opt / "notes.txt").write_text("mine\n")
    tool._remove_releases(layout)
    assert sorted(p.name for p in layout.opt.iterdir()) == ["notes.txt"]
    assert "kept " in capsys.readouterr().out
    (layout.opt / "notes.txt").unlink()
    tool.switch(layout, _release(layout, "bbb", 2))
    tool._remove_releases(layout)
    assert not layout.opt.exists()


# --- a failed deploy puts the files back ----------------------------------------------------------
def test_a_failed_deploy_restores_the_env_file_and_redis_conf(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("BIND=127.0.0.1:8000\n")
    layout.redis_conf.parent.mkdir(parents=True)
    layout.redis_conf.write_text("port 6379\n")
    with pytest.raises(KeyboardInterrupt), tool.restored_on_failure(layout):
        layout.env_file.write_text("BIND=127.0.0.1:8000\nSCHEDULER_REDIS_URL=redis://127.0.0.1:6379/0\n")
        layout.redis_conf.write_text("port 6379\nrequirepass x\n")
        raise KeyboardInterrupt
    assert layout.env_file.read_text() == "BIND=127.0.0.1:8000\n"
    assert layout.redis_conf.read_text() == "port 6379\n"


def test_an_env_file_a_failed_first_deploy_wrote_is_removed_and_success_keeps_changes(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    with pytest.raises(DeployError), tool.restored_on_failure(layout):
        tool.install_env(layout, "127.0.0.1:8000", "shop")
        raise DeployError("pip failed")
    assert not layout.env_file.exists()
    with tool.restored_on_failure(layout):
        tool.install_env(layout, "127.0.0.1:8000", "shop")
    assert layout.env_file.exists()


# --- whole commands on a stage --------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership record is root's")
def test_rollback_and_undeploy_of_an_app_deploy_never_made_touch_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Layout(tmp_path, "shop").state.mkdir(parents=True)
    for action in ("rollback", "undeploy"):
        assert tool.main(["--app", "shop", "--destdir", str(tmp_path), "--purge", action]) == 1
        error = capsys.readouterr().err
        assert error.startswith("deploy: error: --app shop: ") and "not created by make deploy" in error
    assert Layout(tmp_path, "shop").state.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership record is root's")
def test_staged_rollback_swaps_the_links_and_purge_removes_only_what_the_record_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(tmp_path, "shop")
    ownership.claim(layout, staged=True)
    base = ["--app", "shop", "--destdir", str(tmp_path)]
    assert tool.main([*base, "rollback"]) == 1
    assert "no previous release to roll back to" in capsys.readouterr().err
    tool.switch(layout, _release(layout, "aaa", 1))
    tool.switch(layout, _release(layout, "bbb", 2))
    assert tool.main([*base, "rollback"]) == 0
    assert (os.readlink(layout.current), os.readlink(layout.previous)) == ("releases/aaa", "releases/bbb")
    layout.state.mkdir(parents=True)
    layout.unit.parent.mkdir(parents=True)
    layout.unit.write_text("[Unit]\n")
    assert tool.main([*base, "undeploy"]) == 0
    assert not layout.opt.exists() and not layout.unit.exists() and layout.etc.is_dir() and layout.state.is_dir()
    assert tool.main([*base, "--purge", "undeploy"]) == 0
    assert not layout.etc.exists() and not layout.state.exists()
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir())
    assert left == ["run/scheduler-proc-deploy.lock"]


def test_cli_on_an_app_not_deployed_here_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["--app", "shop", "--destdir", str(tmp_path), "cli", "--", "status"]) == 1
    assert "deploy: error: shop is not deployed here" in capsys.readouterr().err


def test_the_kits_own_checkout_is_what_a_deploy_without_a_project_ships(tmp_path: Path) -> None:
    args = argparse.Namespace(project=None, find_links="", destdir=str(tmp_path), app="shop", asgi="")
    assert tool._source(args).root == tool.SOURCE


def test_a_project_inside_the_apps_own_directories_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    project = layout.opt / "src"
    project.mkdir(parents=True)
    args = argparse.Namespace(project=project, find_links="", destdir=str(tmp_path), app="shop", asgi="a:b")
    with pytest.raises(DeployError, match=r"lies in .*opt/shop, which deploy manages .*/srv/src/shop"):
        tool._source(args)
