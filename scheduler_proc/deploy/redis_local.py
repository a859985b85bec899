"""REDIS=local and REDIS=<url>: a local redis-server set up for the kit's guarantees, and the env file pointed at it."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import urllib.parse
from pathlib import Path

from scheduler_proc.deploy.layout import DeployError, Layout, env_value, read_env, run_step, say
from scheduler_proc.securedir import write_private


class ConfFile:
    """redis.conf, read and written as root without following a link.

    Debian's /etc/redis belongs to the redis user, who could put a symbolic or hard link
    there: root opens the file with O_NOFOLLOW, accepts only a regular file with one link,
    and writes and chmods it through that descriptor, never by name.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _open(self, flags: int) -> int:
        if self.path.parent.is_symlink():
            raise DeployError(
                f"{self.path.parent} is a symbolic link; deploy runs as root and will not write through it"
            )
        try:
            fd = os.open(self.path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o640)
        except OSError as exc:
            if self.path.is_symlink():
                raise DeployError(
                    f"{self.path} is a symbolic link; deploy runs as root and will not write through it: "
                    "replace it with the file itself (or deploy with REDIS=redis://...)"
                ) from None
            raise DeployError(f"{self.path} cannot be opened ({exc.strerror}); fix it, then deploy again") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise DeployError(
                f"{self.path} is not a regular file with a single link; deploy runs as root and will not write "
                "it: make it a plain file (owned by root or redis), then deploy again"
            )
        return fd

    def read(self) -> bytes:
        """Its bytes (b"" if it does not exist yet)."""
        if not os.path.lexists(self.path):
            return b""
        fd = self._open(os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def write(self, data: bytes) -> None:
        """Replace its content in place (its owner stays; mode 0640), creating it if missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open(os.O_RDWR | os.O_CREAT)
        with os.fdopen(fd, "r+b") as handle:
            handle.truncate(0)
            handle.write(data)
            handle.flush()
            os.fsync(fd)
            os.fchmod(fd, 0o640)


def restart_redis(staged: bool) -> None:
    """redis-server reads its configuration only when it starts."""
    if not staged:
        run_step(["systemctl", "restart", "redis-server"], "restart redis-server")


def _redis_conf_lines(password: str) -> list[str]:
    """What REDIS=local adds to redis.conf: the settings the kit's guarantees assume."""
    return [
        "bind 127.0.0.1 -::1",
        "protected-mode yes",
        f"requirepass {password}",
        # A claim is on disk before Redis answers it: a restart or power loss never forgets a
        # fire that ran (with everysec, the last second of claims could be lost; the kit would
        # then skip those fires rather than run them twice).
        "appendonly yes",
        "appendfsync always",
        # Evicting keys under memory pressure could delete a claim or the lease; the kit
        # refuses to start on any other policy.
        "maxmemory-policy noeviction",
    ]


def point_at_redis(layout: Layout, url: str) -> bool:
    """REDIS=redis://[:password@]host:port/db: cluster mode on a Redis elsewhere (written once, like the file).

    True if the env file changed (the running service must restart to read it).
    """
    if "SCHEDULER_REDIS_URL" in read_env(layout.env_file):
        return False
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{parts.port}" if parts.port else ""
    lines = [f"SCHEDULER_REDIS_URL={env_value('REDIS', f'{parts.scheme}://{netloc}{parts.path}')}"]
    if parts.password:
        lines.append(f"SCHEDULER_REDIS_PASSWORD={env_value('REDIS', urllib.parse.unquote(parts.password))}")
    with open(layout.env_file, "a") as handle:
        handle.write("\n# Added by make deploy REDIS=...\n" + "\n".join(lines) + "\n")
    say(f"pointed {layout.env_file} at the Redis at {parts.scheme}://{netloc}")
    return True


def _redis_block_marks(layout: Layout) -> tuple[str, str]:
    return f"# BEGIN {layout.app} (make deploy REDIS=local)", f"# END {layout.app}"


def _own_redis_block(layout: Layout, text: str) -> str:
    """The lines REDIS=local added to redis.conf's ``text`` for this app, marks included; "" if none.

    The marks are whole lines, END after BEGIN: app ``demo``'s block is never found in ``demo2``'s.
    """
    begin, end = _redis_block_marks(layout)
    # No other BEGIN in between: a block that lost its END never swallows the next app's.
    found = re.search(rf"^{re.escape(begin)}$(?:(?!^# BEGIN ).)*?^{re.escape(end)}$", text, re.M | re.S)
    return found[0] if found else ""


_REDIS_DIRECTIVE = re.compile(r"^[ \t]*([A-Za-z-]+)[ \t]+(.*?)[ \t]*$")
#: A requirepass value, bare or in matching quotes: printable ASCII without quotes or backslashes.
_PLAIN_PASSWORD = re.compile(r"""(["']?)([!#-&(-\[\]-~]*)\1""")


def _password_set_in(text: str, conf: Path) -> str | None:
    """The password redis.conf's ``text`` gives Redis (its last requirepass, as Redis reads it); None if none.

    Refuses what it cannot read for sure rather than guess: ACL users, an ACL file or an
    included file, and a requirepass value with spaces or escapes. No message shows the value.
    """
    password = None
    for number, line in enumerate(text.split("\n"), 1):  # Redis breaks lines at \n only
        directive = _REDIS_DIRECTIVE.match(line.removesuffix("\r"))
        if directive is None:
            continue
        name = directive[1].lower()
        if name in ("aclfile", "include") or (name == "user" and directive[2].split()[:1] == ["default"]):
            shown = f"{name} default" if name == "user" else name
            raise DeployError(
                f"{conf} line {number}: `{shown} ...` may set Redis's password in a way make deploy cannot read; "
                "give the app a Redis user yourself and deploy with REDIS=redis://USER:PASSWORD@127.0.0.1:6379/0"
            )
        if name == "requirepass":
            plain = _PLAIN_PASSWORD.fullmatch(directive[2])
            if plain is None:
                raise DeployError(
                    f"{conf} line {number}: the requirepass value has spaces, escapes or unbalanced quotes that "
                    "make deploy will not copy; deploy with REDIS=redis://:PASSWORD@127.0.0.1:6379/0 instead"
                )
            password = plain[2]
    return password or None  # requirepass "" turns the password off


def remove_local_redis(layout: Layout, staged: bool) -> None:
    """PURGE: take out of redis.conf what REDIS=local added there (its password too)."""
    conf = ConfFile(layout.redis_conf)
    text = conf.read().decode()
    block = _own_redis_block(layout, text)
    if not block:
        return
    conf.write(text.replace(f"\n{block}\n", "\n").replace(block, "").encode())
    say(f"removed {layout.app}'s settings from {conf.path}")
    restart_redis(staged)


def setup_local_redis(layout: Layout, staged: bool) -> bool:
    """REDIS=local: Debian's redis-server on 127.0.0.1 with a password, and the env file pointed at it.

    True if the env file changed (the running service must restart to read it).
    """
    if not staged and shutil.which("redis-server") is None:
        run_step(["apt-get", "install", "-y", "-qq", "redis-server"], "install redis-server with apt-get")
    conf = layout.redis_conf
    text = ConfFile(conf).read().decode()
    env = read_env(layout.env_file)
    old_block = _own_redis_block(layout, text)
    # Redis has one password, the last requirepass in the file: one set already (by another app's
    # REDIS=local or by the admin) stays, or its users would be locked out.
    password = _password_set_in(text, conf) or secrets.token_hex(24)
    begin, end = _redis_block_marks(layout)
    block = "\n".join([begin, *_redis_conf_lines(password), end])
    if block != old_block:
        ConfFile(conf).write((text.replace(old_block, block) if old_block else f"{text}\n{block}\n").encode())
        say(f"configured {conf}: loopback only, password, appendonly with fsync on every write, noeviction")
        restart_redis(staged)
    added = (
        "# Added by make deploy REDIS=local\nSCHEDULER_REDIS_URL=redis://127.0.0.1:6379/0\nSCHEDULER_REDIS_PASSWORD="
    )
    if "SCHEDULER_REDIS_URL" not in env:
        with open(layout.env_file, "a") as handle:
            handle.write(f"\n{added}{password}\n")
        say(f"pointed {layout.env_file} at the local Redis")
        return True
    # What an earlier REDIS=local wrote (and nobody changed since) follows the password Redis has now.
    env_text = layout.env_file.read_text()
    if added in env_text:
        start = env_text.index(added) + len(added)
        stop = env_text.find("\n", start)
        stop = len(env_text) if stop < 0 else stop
        if env_text[start:stop] != password:
            _replace_keeping_owner(layout.env_file, env_text[:start] + password + env_text[stop:])
            say(f"updated the local Redis password in {layout.env_file}")
            return True
    return False


def _replace_keeping_owner(path: Path, text: str) -> None:
    """Write ``path`` anew (atomically, so a crash leaves the old one), then give back its mode and owner."""
    st = path.stat()
    write_private(path, text.encode(), durable=True)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, stat.S_IMODE(st.st_mode))
