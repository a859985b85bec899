"""What one deploy ships (scheduler_proc/deploy/project.py), on projects built in tmp_path: the
checks that keep a deploy running as root inside the project (links, modes, includes, reserved
names), how the project is run and installed, the release id's inputs and the copy's modes."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from support import ROOT, write_files

from scheduler_proc.deploy.project import (
    KIT_CONFIG,
    ProjectError,
    Source,
    _checked,
    _includes_stay_inside,
    _installable,
    _names_itself,
    _sets_wsgi_app,
    project_source,
    template_source,
)


def _fingerprint(source: Source) -> str:
    digest = hashlib.sha256()
    source.fingerprint(digest)
    return digest.hexdigest()


def test_a_file_of_the_project_passes(tmp_path: Path) -> None:
    write_files(tmp_path, {"shop/jobs.py": "jobs = []\n"})
    assert _checked(tmp_path, Path("shop/jobs.py")) == Path("shop/jobs.py")


def test_a_link_out_of_the_project_is_refused(tmp_path: Path) -> None:
    project = write_files(tmp_path / "shop", {"main.py": ""})
    (tmp_path / "secret").write_text("root only\n")
    (project / "leak.txt").symlink_to(tmp_path / "secret")
    with pytest.raises(ProjectError, match=r"leak\.txt leads to .*secret, outside the project; deploy runs as root"):
        _checked(project, Path("leak.txt"))


def test_a_link_to_a_directory_inside_ships_but_a_dangling_one_does_not(tmp_path: Path) -> None:
    write_files(tmp_path, {"shop/jobs.py": ""})
    (tmp_path / "alias").symlink_to("shop")
    assert _checked(tmp_path, Path("alias")) == Path("alias")
    (tmp_path / "gone").symlink_to("nothing-here")
    with pytest.raises(ProjectError, match=r"gone is not a regular file \(or is a dangling link\); remove it"):
        _checked(tmp_path, Path("gone"))


def test_a_file_anyone_may_write_is_refused(tmp_path: Path) -> None:
    write_files(tmp_path, {"jobs.py": ""})
    os.chmod(tmp_path / "jobs.py", 0o666)
    with pytest.raises(ProjectError, match=r"jobs\.py may be written by any user \(mode 666\).*chmod o-w it"):
        _checked(tmp_path, Path("jobs.py"))


@pytest.mark.parametrize("name", ["venv/bin/python", ".complete"])
def test_a_file_named_like_the_releases_own_is_refused(tmp_path: Path, name: str) -> None:
    write_files(tmp_path, {name: ""})
    with pytest.raises(ProjectError, match=r"would overwrite the release's own"):
        _checked(tmp_path, Path(name))


def test_requirements_may_include_only_the_projects_own_files(tmp_path: Path) -> None:
    write_files(tmp_path, {"requirements.txt": "-r base.txt\n--constraint=constraints.txt\nfastapi\n"})
    _includes_stay_inside(tmp_path, "requirements.txt")
    (tmp_path / "requirements.txt").write_text("fastapi\n-c ../../etc/shadow\n")
    with pytest.raises(ProjectError, match=r"requirements\.txt line 2 includes \.\./\.\./etc/shadow, outside"):
        _includes_stay_inside(tmp_path, "requirements.txt")


@pytest.mark.parametrize(
    ("config", "sets"),
    [
        ("wsgi_app = 'shop.main:app'\n", True),
        ("wsgi_app: str = 'shop.main:app'\n", True),
        ("bind = '0.0.0.0:8000'\n", False),
        ("def f():\n    wsgi_app = 'x'\n", False),  # not at the top level
        ("wsgi_app = (\n", False),  # cannot be read
    ],
)
def test_a_gunicorn_conf_names_the_app_only_by_a_top_level_wsgi_app(tmp_path: Path, config: str, sets: bool) -> None:
    (tmp_path / "gunicorn.conf.py").write_text(config)
    assert _sets_wsgi_app(tmp_path / "gunicorn.conf.py") is sets


@pytest.mark.parametrize(
    ("files", "installable"),
    [
        ({"setup.py": ""}, True),
        ({"pyproject.toml": "[project]\nname = 'shop'\n"}, True),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, False),
        ({"pyproject.toml": "[project\n"}, False),
        ({}, False),
    ],
)
def test_the_project_is_installable_with_a_project_table_or_a_setup_py(
    tmp_path: Path, files: dict[str, str], installable: bool
) -> None:
    assert _installable(write_files(tmp_path, files)) is installable


@pytest.mark.parametrize(
    ("requirements", "names"),
    [
        ("fastapi==0.110\nMy_Shop==1.0\n", True),  # by its normalized name
        ("-e .  # the project\n", True),
        ("./\n", True),
        ("fastapi==0.110\nmy-shop-extras==1\n", False),
        ("# my-shop\n", False),
    ],
)
def test_a_lock_that_installs_the_project_already_is_seen(tmp_path: Path, requirements: str, names: bool) -> None:
    write_files(tmp_path, {"pyproject.toml": "[project]\nname = 'my.shop'\n", "requirements.lock": requirements})
    assert _names_itself(tmp_path, "requirements.lock") is names


def test_the_unit_runs_gunicorn_with_the_config_and_the_app() -> None:
    source = Source(Path("/p"), (), "requirements.txt", KIT_CONFIG, "shop.main:app", False, "", True)
    assert source.exec_start() == f"-c {KIT_CONFIG} shop.main:app"
    own = Source(Path("/p"), (), "requirements.txt", "gunicorn.conf.py", "", False, "", True)
    assert own.exec_start() == "-c gunicorn.conf.py"


def test_the_release_id_covers_content_mode_requirements_and_wheels(tmp_path: Path) -> None:
    project = write_files(tmp_path / "p", {"shop/jobs.py": "jobs = []\n", "requirements.lock": "fastapi==0.110\n"})
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    source = Source(project, (Path("shop/jobs.py"),), "requirements.lock", KIT_CONFIG, "a:b", False, "", True)
    first = _fingerprint(source)
    assert _fingerprint(source) == first
    os.chmod(project / "shop/jobs.py", 0o755)
    assert _fingerprint(source) != first
    os.chmod(project / "shop/jobs.py", 0o644)
    assert _fingerprint(source) == first
    (project / "requirements.lock").write_text("fastapi==0.111\n")
    second = _fingerprint(source)
    assert second != first
    with_wheels = Source(project, source.files, "requirements.lock", KIT_CONFIG, "a:b", False, str(wheels), True)
    (wheels / "scheduler_proc-1.0-py3-none-any.whl").write_bytes(b"one")
    third = _fingerprint(with_wheels)
    (wheels / "scheduler_proc-1.0-py3-none-any.whl").write_bytes(b"two")
    assert len({second, third, _fingerprint(with_wheels)}) == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy is made root-owned")
def test_the_copy_is_root_owned_0644_or_0755_whatever_the_checkout_says(tmp_path: Path) -> None:
    project = write_files(tmp_path / "p", {"shop/jobs.py": "", "run.sh": "", "requirements.txt": "fastapi\n"})
    os.chmod(project / "shop/jobs.py", 0o620)
    os.chmod(project / "run.sh", 0o770)
    os.chmod(project / "shop", 0o770)
    (project / "alias").symlink_to("shop")
    files = (Path("shop/jobs.py"), Path("run.sh"), Path("alias"))
    release = tmp_path / "release"
    Source(project, files, "requirements.txt", KIT_CONFIG, "a:b", False, "", True).copy_to(release)
    modes = {str(p.relative_to(release)): oct(p.lstat().st_mode & 0o777) for p in release.rglob("*")}
    assert modes == {
        "shop": "0o755",
        "shop/jobs.py": "0o644",
        "run.sh": "0o755",
        "alias": "0o777",
        "requirements.txt": "0o644",  # the requirements ship even when not listed
    }
    assert os.readlink(release / "alias") == "shop"
    assert {p.lstat().st_uid for p in release.rglob("*")} == {0}


def test_the_kits_checkout_ships_its_demo_app_without_caches() -> None:
    source = template_source(ROOT, "")
    names = {str(path) for path in source.files}
    assert {"gunicorn.conf.py", "requirements.lock", "app/main.py", "scheduler_proc/deploy/tool.py"} <= names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert not any(name.startswith("tests/") for name in names)
    assert (source.config, source.asgi, source.project) == ("gunicorn.conf.py", "", False)


def test_an_installed_kit_is_no_checkout_to_ship(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"and .* is not one \(the kit is installed there\); give your project"):
        template_source(tmp_path, "")


# --- project_source: asks git whether the directory is a work tree (a subprocess) -------------------
@pytest.mark.processes
def test_outside_git_every_file_ships_but_caches_and_venvs(tmp_path: Path) -> None:
    project = write_files(
        tmp_path / "shop",
        {
            "requirements.txt": "scheduler-proc==1.0\n",
            "shop/main.py": "",
            "shop/__pycache__/main.cpython-311.pyc": "",
            "shop/stale.pyc": "",
            ".venv/bin/python": "",
            "node_modules/x.js": "",
            "build/lib/shop.py": "",
        },
    )
    source = project_source(project, "shop.main:app", "")
    assert sorted(map(str, source.files)) == ["requirements.txt", "shop/main.py"]
    assert (source.config, source.asgi, source.install_itself) == (KIT_CONFIG, "shop.main:app", False)


@pytest.mark.processes
def test_in_a_git_work_tree_what_git_lists_ships_and_nothing_it_ignores(tmp_path: Path) -> None:
    project = write_files(
        tmp_path / "shop",
        {
            ".gitignore": "*.log\n",
            "requirements.lock": "scheduler-proc==1.0\n",
            "gunicorn.conf.py": "wsgi_app = 'shop.main:app'\n",
            "shop/main.py": "",
            "debug.log": "",
            "pyproject.toml": "[project]\nname = 'shop'\n",
        },
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", "shop/main.py"], check=True)
    source = project_source(project, "", "")
    names = sorted(map(str, source.files))
    assert names == [".gitignore", "gunicorn.conf.py", "pyproject.toml", "requirements.lock", "shop/main.py"]
    assert (source.config, source.requirements) == ("gunicorn.conf.py", "requirements.lock")
    assert source.install_itself  # a [project] table its lock does not name


@pytest.mark.processes
@pytest.mark.parametrize(
    ("files", "asgi", "message"),
    [
        ({"main.py": ""}, "a:b", r"no requirements\.lock or requirements\.txt; add one"),
        ({"requirements.txt": ""}, "", r"give the ASGI app to serve with --asgi .*for the kit's gunicorn config"),
        (
            {"requirements.txt": "", "gunicorn.conf.py": "bind = ':8000'\n"},
            "",
            r"since its gunicorn\.conf\.py does not set wsgi_app",
        ),
        ({"requirements.txt": "-r /etc/passwd\n"}, "a:b", r"line 1 includes /etc/passwd, outside the project"),
    ],
)
def test_a_project_that_cannot_be_deployed_says_what_to_fix(
    tmp_path: Path, files: dict[str, str], asgi: str, message: str
) -> None:
    with pytest.raises(ProjectError, match=message):
        project_source(write_files(tmp_path / "shop", files), asgi, "")


def test_a_project_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no such directory; give the directory of your project"):
        project_source(tmp_path / "missing", "a:b", "")
