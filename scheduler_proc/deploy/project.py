"""What one deploy ships and how its release is installed: the kit's checkout, or a user's own project.

Template mode (no ``--project``) ships the kit's checkout with its demo ``app/`` and
``requirements.lock``, as ``make deploy`` always did. Project mode (``--project DIR``) ships
the project's files (what ``git ls-files`` lists in a git work tree, else every file but
caches, venvs and build output), installs the project's own ``requirements.lock`` or
``requirements.txt`` (which must bring the kit: ``scheduler-proc==X``, from the package index
or a ``--find-links`` wheelhouse) and runs ``gunicorn -c <config> <asgi>`` with the
project's ``gunicorn.conf.py`` or the kit's ``python:scheduler_proc.gunicorn_conf``.

Deploy runs as root: nothing here follows a symlink out of the project, and git is asked
only to list files (with its fsmonitor hook off, whatever the project's .git/config says).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Walking a project that is not a git work tree skips these directories (at any depth).
EXCLUDED_DIRS = frozenset(
    {".git", ".venv", "venv", "__pycache__", "dist", "build", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    | {"node_modules"}
)
#: Names the release itself uses at its top.
RESERVED = frozenset({"venv", ".complete"})
#: The requirements files of a project, the first found wins.
REQUIREMENTS = ("requirements.lock", "requirements.txt")
KIT_CONFIG = "python:scheduler_proc.gunicorn_conf"
#: Template mode's shipped names, relative to the kit's checkout.
TEMPLATE_SHIPPED = ("app", "scheduler_proc", "gunicorn.conf.py", "pyproject.toml", "requirements.lock", "README.md")


class ProjectError(Exception):
    """The project cannot be deployed as it is; the message names the file and the fix."""


@dataclass(frozen=True)
class Source:
    """What a release is made of: ``files`` (relative to ``root``) and how to install and run them."""

    root: Path
    files: tuple[Path, ...]
    requirements: str
    #: gunicorn's ``-c`` value, and the app path given after it ("" when the config names it).
    config: str
    asgi: str
    #: ``pip install --no-deps .`` after the requirements (a pyproject the lock does not name).
    install_itself: bool
    #: A wheelhouse passed to pip as ``--find-links`` ("" for none).
    find_links: str
    project: bool

    def fingerprint(self, digest: hashlib._Hash) -> None:
        """Feed what makes a release different into ``digest``: files, requirements, command, wheels."""
        digest.update(b"release files normalized: root, 0644/0755\0")  # releases built before are rebuilt once
        for path in sorted(self.files):
            source = self.root / path
            # A checked link to a directory of the project ships as a link: its target is its content.
            content = os.readlink(source).encode() if source.is_symlink() and source.is_dir() else source.read_bytes()
            # The mode as found: fixing a file's mode (a world-writable jobs.py, say) builds a new release.
            mode = f"{stat.S_IMODE(source.stat().st_mode):o}".encode()
            digest.update(str(path).encode() + b"\0" + content + b"\0" + mode + b"\0")
        if self.project:
            digest.update(f"\0project\0{self.requirements}\0{self.config}\0{self.asgi}\0".encode())
            digest.update((self.root / self.requirements).read_bytes())
        if self.find_links:
            for wheel in sorted(Path(self.find_links).iterdir()):
                if wheel.is_file():
                    digest.update(wheel.name.encode() + b"\0" + hashlib.sha256(wheel.read_bytes()).digest())

    def copy_to(self, release: Path) -> None:
        """Copy the files into ``release``, normalized: root-owned, 0644 (0755 if executable), directories 0755.

        A symlink inside the project becomes a copy (or a relative link). Nobody but root may
        change what the service runs, whatever the modes and owners in the checkout.
        """
        names = [*self.files]
        if self.project and Path(self.requirements) not in self.files:
            names.append(Path(self.requirements))
        for path in names:
            source, target = self.root / path, release / path
            _directories(release, path.parent)
            if source.is_dir():  # a checked symlink to a directory of the project
                target.symlink_to(os.path.relpath(source.resolve(), (self.root / path.parent).resolve()))
                os.lchown(target, 0, 0)
            else:
                shutil.copyfile(source, target)
                os.chown(target, 0, 0)
                os.chmod(target, 0o755 if source.stat().st_mode & 0o111 else 0o644)

    def exec_start(self) -> str:
        """The arguments of gunicorn in the unit's ExecStart."""
        return f"-c {self.config}" + (f" {self.asgi}" if self.asgi else "")


def _directories(release: Path, relative: Path) -> None:
    """Make ``release/relative`` and its parents below the release: root-owned, 0755."""
    release.mkdir(parents=True, exist_ok=True)
    path = release
    for part in relative.parts:
        path = path / part
        if not path.is_dir():
            path.mkdir()
        os.chown(path, 0, 0)
        os.chmod(path, 0o755)


def template_source(kit: Path, find_links: str) -> Source:
    """The kit's own checkout with its demo app (``make deploy`` without PROJECT)."""
    if not (kit / "app").is_dir() or not (kit / "requirements.lock").is_file():
        raise ProjectError(
            f"without --project the kit deploys its demo app from a checkout of the kit, and {kit} is not one "
            "(the kit is installed there); give your project with --project DIR --asgi ... --jobs ..."
        )
    files = []
    for name in TEMPLATE_SHIPPED:
        path = kit / name
        if path.is_file():
            files.append(Path(name))
        else:
            files += [
                p.relative_to(kit)
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
            ]
    return Source(kit, tuple(files), "requirements.lock", "gunicorn.conf.py", "", False, find_links, False)


def project_source(root: Path, asgi: str, find_links: str) -> Source:
    """A user's project at ``root``, checked before anything is written; ProjectError says what to fix."""
    if not root.is_dir():
        raise ProjectError(f"--project {root}: no such directory; give the directory of your project (PROJECT=/path)")
    files = tuple(_checked(root, path) for path in _listed(root))
    requirements = next((name for name in REQUIREMENTS if (root / name).is_file()), None)
    if requirements is None:
        raise ProjectError(
            f"--project {root}: no requirements.lock or requirements.txt; add one that names your dependencies "
            "and the kit (scheduler-proc==VERSION)"
        )
    _checked(root, Path(requirements))
    _includes_stay_inside(root, requirements)
    own_config = Path("gunicorn.conf.py") in files
    if not asgi and not (own_config and _sets_wsgi_app(root / "gunicorn.conf.py")):
        raise ProjectError(
            f"--project {root}: give the ASGI app to serve with --asgi (ASGI=package.module:app), "
            + ("since its gunicorn.conf.py does not set wsgi_app" if own_config else "for the kit's gunicorn config")
        )
    config = "gunicorn.conf.py" if own_config else KIT_CONFIG
    install_itself = _installable(root) and not _names_itself(root, requirements)
    return Source(root, files, requirements, config, asgi, install_itself, find_links, True)


def _listed(root: Path) -> Iterator[Path]:
    """The project's files relative to ``root``: git's list in a work tree, else a walk without caches."""
    git = shutil.which("git")
    if git is not None:
        # safe.directory: root runs this in a user's tree; fsmonitor would run a command from .git/config.
        base = [git, "-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-C", str(root)]
        inside = subprocess.run([*base, "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
        if inside.returncode == 0 and inside.stdout.strip() == "true":
            # Tracked files and untracked ones git does not ignore: the release is the tree as it is on disk.
            listed = subprocess.run(
                [*base, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True
            )
            if listed.returncode != 0:
                raise ProjectError(f"--project {root}: git ls-files failed: {listed.stderr.decode()[-500:]}")
            names = dict.fromkeys(filter(None, listed.stdout.decode().split("\0")))
            yield from (Path(name) for name in names if os.path.lexists(root / name))
            return
        if (root / ".git").exists():
            raise ProjectError(f"--project {root} has a .git that git cannot read: {inside.stderr.strip()[-500:]}")
    if (root / ".git").exists():
        raise ProjectError(f"--project {root} is a git work tree but git is not installed; install git")
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory).relative_to(root)
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        for name in dirnames:
            if (Path(directory) / name).is_symlink():  # os.walk does not enter it: ship the link itself
                yield here / name
        yield from (here / name for name in filenames if not name.endswith((".pyc", ".pyo")))


def _checked(root: Path, path: Path) -> Path:
    """``path`` if it is a file (or a link to one, or to a directory) inside the project; else ProjectError."""
    full = root / path
    if path.parts[0] in RESERVED:
        raise ProjectError(
            f"--project {root}: {path} would overwrite the release's own {path.parts[0]!r}; "
            "rename it, or leave it out of git (or of the directory)"
        )
    real = full.resolve()
    if real.exists() and real.stat().st_mode & 0o002:
        raise ProjectError(
            f"--project {root}: {path} may be written by any user (mode {real.stat().st_mode & 0o777:o}); deploy "
            "builds the project as root, so not everyone may write it: chmod o-w it"
        )
    if not real.is_relative_to(root.resolve()):
        raise ProjectError(
            f"--project {root}: {path} leads to {real}, outside the project; deploy runs as root and copies only "
            "what is inside the project: put the file itself there, or remove the link"
        )
    if not (real.is_file() or (real.is_dir() and full.is_symlink())):
        raise ProjectError(f"--project {root}: {path} is not a regular file (or is a dangling link); remove it")
    return path


_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)")


def _includes_stay_inside(root: Path, requirements: str) -> None:
    """A requirements file may include others (``-r``, ``-c``), but only the project's own: pip reads
    them as root, and quotes a file it cannot parse in its error."""
    for number, line in enumerate((root / requirements).read_text().splitlines(), 1):
        match = _INCLUDE.match(line)
        if match and not (root / match.group(1)).resolve().is_relative_to(root.resolve()):
            raise ProjectError(
                f"--project {root}: {requirements} line {number} includes {match.group(1)}, outside the project; "
                "pip reads it as root: include only files of the project"
            )


def _sets_wsgi_app(config: Path) -> bool:
    """Whether gunicorn.conf.py assigns ``wsgi_app`` at its top level (False if it cannot be read)."""
    try:
        tree = ast.parse(config.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return False
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(target, ast.Name) and target.id == "wsgi_app" for target in targets):
            return True
    return False


def _installable(root: Path) -> bool:
    """A pyproject.toml with a [project] table, or a setup.py: pip can install the project itself."""
    if (root / "setup.py").is_file():
        return True
    try:
        return "project" in tomllib.loads((root / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def _names_itself(root: Path, requirements: str) -> bool:
    """Whether the requirements file installs the project already (by its name, or as ``.``/``-e .``)."""
    try:
        name = str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"])
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        name = ""
    wanted = re.sub(r"[-_.]+", "-", name).lower()
    for line in (root / requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line in (".", "./", "-e .", "-e ./"):
            return True
        listed = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if wanted and listed and re.sub(r"[-_.]+", "-", listed[0]).lower() == wanted:
            return True
    return False
