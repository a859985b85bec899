"""Real PostgreSQL servers on loopback, started and stopped by tests, and the faults they can suffer.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the system
user ``scheduler-pgtest`` (created once), in a directory under /tmp that user owns (pytest's
tmp_path parents are 0700 root). ``initdb`` runs once per test process into a template that
every server copies, so a server starts in well under a second.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from support import free_port, wait_for

#: The system user the server runs as when the tests run as root.
TEST_USER = "scheduler-pgtest"
#: The superuser every server has: trusted over its unix socket, a password over TCP.
ADMIN = "postgres"
#: The database every server has, as the kit's users would have one.
DATABASE = "scheduler"
#: application_name of the harness's own connections, so ``statements()`` can leave them out.
HARNESS_APP = "pg_support"

_HBA = f"""\
# pg_support: the admin over the unix socket without a password; every role over TCP with one.
local all {ADMIN} trust
host all all 127.0.0.1/32 scram-sha-256
"""
#: A statement as log_statement=all logs it, after log_line_prefix '%a|': simple-protocol
#: queries ("statement: ...") and each execute of the extended protocol ("execute <name>: ...").
_LOGGED_STATEMENT = re.compile(r"^(?P<app>.*)\|LOG:  (?:statement|execute [^:]*): ")


@functools.cache
def pg_bin() -> Path:
    """The directory of initdb, postgres and pg_dump: initdb's on PATH, else Debian's newest."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise AssertionError("no initdb: install PostgreSQL (scripts/ensure-test-deps, Debian's package postgresql)")
    return found[-1].parent


@dataclass(frozen=True)
class ServerUser:
    """Who the server's processes run as: ``scheduler-pgtest`` under root, else ourselves."""

    uid: int
    gid: int

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def popen_options(self) -> dict[str, Any]:
        """subprocess options that drop root (and its groups) for the server's programs."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []} if self.as_root else {}

    def own(self, *paths: Path) -> None:
        for path in paths:
            os.chown(path, self.uid, self.gid)

    def run(self, args: list[str], cwd: Path) -> None:
        """Run one of PostgreSQL's programs as this user; fail with its output."""
        done = subprocess.run(
            args, cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=60, check=False, **self.popen_options()
        )
        if done.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")


#: The server's environment: nothing of ours (no PG* variables), the C locale.
_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}


@functools.cache
def server_user() -> ServerUser:
    """The user the servers run as; creates ``scheduler-pgtest`` once when we are root."""
    if os.geteuid() != 0:
        return ServerUser(os.getuid(), os.getgid())
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        # Two pytest workers may race here: the loser's useradd fails and the lookup finds the user.
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            capture_output=True,
            check=False,
        )
        entry = pwd.getpwnam(TEST_USER)
    return ServerUser(entry.pw_uid, entry.pw_gid)


def owned_temp_dir(prefix: str) -> Path:
    """A fresh directory under /tmp the server user owns (0700): its data, socket and keys."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    server_user().own(path)
    return path


def write_owned(path: Path, text: str, mode: int = 0o600) -> Path:
    """A file the server user can read and no one else can (keys, pg_hba.conf)."""
    path.write_text(text)
    path.chmod(mode)
    server_user().own(path)
    return path


def spawn_postmaster(data: Path, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """The postmaster in a session of its own (a test's Ctrl-C does not reach it; ``kill()`` does)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(pg_bin() / "postgres"), "-D", str(data), *options],
            cwd=data,
            env=_ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **server_user().popen_options(),
        )


def wait_accepting(process: subprocess.Popen[bytes], socket_dir: Path, port: int, log: Path) -> None:
    """Until the admin can connect over the socket; fail at once, with the log, if the server died."""

    def accepting() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"postgres exited with {process.returncode}:\n{_tail(log)}")
        try:
            admin_connect(socket_dir, port, "postgres").close()
        except psycopg.OperationalError:
            return False
        return True

    wait_for(accepting, 30, f"postgres on port {port}")


def admin_connect(socket_dir: Path, port: int, dbname: str = DATABASE) -> psycopg.Connection[tuple[Any, ...]]:
    """The superuser over the unix socket, autocommit, writes allowed even when read_only() is on."""
    return psycopg.connect(
        host=str(socket_dir),
        port=port,
        user=ADMIN,
        dbname=dbname,
        autocommit=True,
        connect_timeout=2,
        application_name=HARNESS_APP,
        options="-c default_transaction_read_only=off",
    )


def stop_postmaster(process: subprocess.Popen[bytes], how: int = signal.SIGINT, timeout: float = 30) -> None:
    """SIGINT: fast shutdown (clients cut off, a checkpoint); SIGQUIT: immediate (a crash, for recovery)."""
    if process.returncode is not None:
        return  # stopped and reaped before: its pid may be someone else's by now
    children = server_children(process.pid)
    signal_server(process.pid, signal.SIGCONT)  # a paused server could not shut down
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(how)
    try:
        process.wait(timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
        for pid in children:  # the postmaster waits for its children; this is for one that did not
            if _command(pid) == "postgres":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def server_children(postmaster: int) -> set[int]:
    """The postmaster's children: backends, background workers (the postmaster has one thread)."""
    try:
        return {int(pid) for pid in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()}
    except OSError:
        return set()


def signal_server(postmaster: int, sig: int) -> None:
    """``sig`` to the postmaster and each of its children. One killpg would not do: every child of
    PostgreSQL's postmaster calls setsid(). Children are listed before and after the postmaster
    is signalled: it forks none while stopped, and a killed one's children are reparented."""
    before = server_children(postmaster)
    with contextlib.suppress(ProcessLookupError):
        os.kill(postmaster, sig)
    for pid in before | server_children(postmaster):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def remove_shared_memory(data: Path) -> None:
    """Remove the System V segment of a postmaster that did not shut down (a test's kill -9): it
    would stay for good. Its id is on line 7 of postmaster.pid, which a clean shutdown removes."""
    try:
        shmid = (data / "postmaster.pid").read_text().splitlines()[6].split()[1]
    except (OSError, IndexError):
        return
    subprocess.run(["ipcrm", "-m", shmid], capture_output=True, check=False)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


@dataclass(frozen=True)
class Template:
    """A data directory made once per test process by initdb, with the database ``scheduler`` in it."""

    data: Path
    password: str


_template: Template | None = None
_template_lock = threading.Lock()


def template() -> Template:
    """The template of this process, made at first use (initdb and one start; removed at exit)."""
    global _template
    with _template_lock:
        if _template is None:
            _template = _make_template()
    return _template


def _make_template() -> Template:
    root = owned_temp_dir("scheduler-pg-template-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    password = secrets.token_hex(16)
    pwfile = write_owned(root / "pwfile", password + "\n")
    data = root / "data"
    user = server_user()
    # --no-sync: only a crash of the machine could lose the template's unsynced files, and that ends the run.
    access = ["-U", ADMIN, f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"]
    user.run(
        [str(pg_bin() / "initdb"), "-D", str(data), *access, "--locale=C", "--encoding=UTF8", "--no-sync"],
        root,
    )
    pwfile.unlink()
    write_owned(data / "pg_hba.conf", _HBA)
    port, log = free_port(), root / "template.log"
    process = spawn_postmaster(data, log, "-p", str(port), "-k", str(root), "-c", "listen_addresses=")
    try:
        wait_accepting(process, root, port, log)
        with admin_connect(root, port, "postgres") as admin:
            create_database(admin)
    finally:
        stop_postmaster(process)
    return Template(data, password)


def create_database(admin: psycopg.Connection[tuple[Any, ...]]) -> None:
    """The database ``scheduler``, where only its owner (the admin) may create schemas."""
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    admin.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DATABASE)))


#: A new P-256 key without a passphrase (quicker to make than RSA).
_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
_CA_EXTENSIONS = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def throwaway_ca(directory: Path, name: str = "pg-test-ca") -> Path:
    """A CA of its own (key and certificate in ``directory``): returns the certificate's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req",
        "-x509",
        *_NEW_KEY,
        *_CA_EXTENSIONS,
        "-subj",
        f"/CN={name}",
        "-days",
        "2",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    return cert


def server_certificate(directory: Path, ca_cert: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1 and localhost, signed by the CA at ``ca_cert``."""
    key, request, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    _openssl("req", *_NEW_KEY, "-keyout", str(key), "-out", str(request), "-subj", "/CN=localhost")
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    ca = ("-CA", str(ca_cert), "-CAkey", str(ca_cert.with_suffix(".key")), "-CAcreateserial")
    _openssl("x509", "-req", "-in", str(request), *ca, "-days", "2", "-out", str(cert), "-extfile", str(extensions))
    key.chmod(0o600)  # the server refuses a key others can read
    server_user().own(key, cert)
    return key, cert


def _openssl(*args: str) -> None:
    done = subprocess.run(
        [shutil.which("openssl") or "/usr/bin/openssl", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {done.stderr}")


class PostgresServer:
    """One PostgreSQL server on a free loopback port, with the faults tests need.

    ``directory`` (a test's tmp_path) keeps the server's log and the dumps, so they outlive
    ``kill()``; the data, the socket and the TLS keys live in a directory under /tmp the server
    user owns, removed by ``kill()``. ``log_statements`` logs every statement, which
    ``statements()`` counts. ``tls`` turns ssl on with a throwaway CA (``ca_file``).
    """

    def __init__(self, directory: Path, tls: bool = False, log_statements: bool = False) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.tls = tls
        self.log_statements = log_statements
        self.root: Path | None = None
        self.ca_file: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._dumps = 0
        #: How long the last start() took (copy of the template, settings, start, first connection).
        self.start_seconds = 0.0

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()

    @property
    def data(self) -> Path:
        assert self.root is not None, "start() the server first"
        return self.root / "data"

    @property
    def password(self) -> str:
        return template().password

    @property
    def url(self) -> str:
        """The admin's URL over TCP, with the password."""
        return self._url(ADMIN, self.password)

    def _url(self, user: str, password: str) -> str:
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{DATABASE}"

    def tls_url(self, url: str) -> str:
        """``url`` with the CA verified and the host name checked (sslmode=verify-full)."""
        assert self.ca_file is not None, "a server started with tls=True"
        return f"{url}?sslmode=verify-full&sslrootcert={quote(str(self.ca_file))}"

    def start(self) -> PostgresServer:
        """Copy the template, write this server's settings, start it and wait until it accepts."""
        began = time.monotonic()
        self.root = owned_temp_dir("scheduler-pg-")
        subprocess.run(["cp", "-a", str(template().data), str(self.data)], check=True)
        settings = self._settings()
        if self.tls:
            self.ca_file = throwaway_ca(self.root)
            server_certificate(self.root, self.ca_file)
            settings += f"ssl = on\nssl_cert_file = '{self.root}/server.crt'\nssl_key_file = '{self.root}/server.key'\n"
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)
        self._run()
        self.start_seconds = time.monotonic() - began
        return self

    def _settings(self) -> str:
        """Settings for tests, appended to postgresql.conf (so ALTER SYSTEM can still change any)."""
        return (
            "\n# pg_support\n"
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.data}'\n"
            # fsync stays on: a restart or a crash must keep what was committed, as in production.
            "fsync = on\nsynchronous_commit = on\nshared_buffers = 16MB\nmax_connections = 100\n"
            # dynamic shared memory in the data directory: nothing left in /dev/shm after a kill -9.
            "dynamic_shared_memory_type = mmap\nhuge_pages = off\n"
            f"log_statement = '{'all' if self.log_statements else 'none'}'\nlog_line_prefix = '%a|'\n"
            "logging_collector = off\n"
        )

    def _run(self) -> None:
        self.process = spawn_postmaster(self.data, self.log)
        wait_accepting(self.process, self.data, self.port, self.log)

    def admin(self, dbname: str = DATABASE) -> psycopg.Connection[tuple[Any, ...]]:
        """A new superuser connection (autocommit) over the unix socket; close it (``with``)."""
        return admin_connect(self.data, self.port, dbname)

    def psql(self, query: str, params: tuple[Any, ...] = (), dbname: str = DATABASE) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser; its rows (none for a statement without any)."""
        with self.admin(dbname) as admin:
            cursor = admin.execute(query, params or None)
            return cursor.fetchall() if cursor.description else []

    def app_role(self, name: str, password: str, schema_owner: bool = True, schema: str | None = None) -> str:
        """A login role that may only use its schema (``name`` unless given); returns its URL.

        ``schema_owner``: the role owns the schema (it can create its tables); False: the admin
        owns it and the role may only look (USAGE), for the tests of missing privileges.
        """
        role, space = sql.Identifier(name), sql.Identifier(schema or name)
        with self.admin() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            owner = role if schema_owner else sql.Identifier(ADMIN)
            admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(space, owner))
            if not schema_owner:
                admin.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(space, role))
            admin.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DATABASE)))
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        return self._url(name, password)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the postmaster and every backend (SIGSTOP/SIGCONT pause the whole server)."""
        assert self.process is not None
        signal_server(self.process.pid, sig)

    def restart(self, down_for: float = 0.0) -> None:
        """Fast shutdown (clients cut off, a checkpoint), then start again on the same port and data,
        ``down_for`` seconds later (connections are refused meanwhile)."""
        assert self.process is not None
        stop_postmaster(self.process, signal.SIGINT)
        if down_for:
            stopped = time.monotonic()
            wait_for(lambda: time.monotonic() - stopped >= down_for, down_for + 1, "the server's time down")
        self._run()

    def crash_restart(self) -> None:
        """Immediate shutdown (no checkpoint: crash recovery on start), then start again."""
        assert self.process is not None
        stop_postmaster(self.process, signal.SIGQUIT)
        self._run()

    def terminate_backends(self, application_name_like: str | None = None) -> int:
        """pg_terminate_backend every client connection (but ours), or those whose
        application_name is LIKE the pattern; waits up to 5 s for each to be gone. How many."""
        rows = self.psql(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND pid <> pg_backend_pid() AND (%s::text IS NULL OR application_name LIKE %s)",
            (application_name_like, application_name_like),
            dbname="postgres",
        )
        return sum(1 for (terminated,) in rows if terminated)

    def dump(self) -> Path:
        """The database as it is now (pg_dump -Fc), in ``directory``: for ``restore()`` later."""
        self._dumps += 1
        target = self.dir / f"dump-{self._dumps}.pgdump"
        self._client_tool("pg_dump", "-Fc", "-f", str(target), "-d", DATABASE)
        return target

    def restore_data(self, schema: str) -> Callable[[], None]:
        """Dump ``schema``'s rows now (pg_dump --data-only); the function returned empties its tables
        and loads those rows back into them (the same tables: the same oids, newer transactions)."""
        self._dumps += 1
        target = self.dir / f"data-{self._dumps}.sql"
        self._client_tool("pg_dump", "--data-only", "-n", schema, "-f", str(target), "-d", DATABASE)

        def restore() -> None:
            tables = self.psql("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
            names = sql.SQL(", ").join(sql.Identifier(schema, str(name)) for (name,) in tables)
            with self.admin() as admin:
                admin.execute(sql.SQL("TRUNCATE {}").format(names))
            self._client_tool("psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(target), "-d", DATABASE)

        return restore

    def snapshot(self) -> Path:
        """A copy of the data directory (a volume snapshot): the server is stopped for it, then started again."""
        assert self.process is not None and self.root is not None
        stop_postmaster(self.process, signal.SIGINT)
        self._dumps += 1
        target = self.root / f"snapshot-{self._dumps}"
        subprocess.run(["cp", "-a", str(self.data), str(target)], check=True)
        self._run()
        return target

    def restore_snapshot(self, snapshot: Path) -> None:
        """Stop, put ``snapshot``'s data back and start: the same server, older data, no new timeline."""
        assert self.process is not None
        stop_postmaster(self.process, signal.SIGINT)
        shutil.rmtree(self.data)
        subprocess.run(["cp", "-a", str(snapshot), str(self.data)], check=True)
        self._run()

    def restore(self, dump: Path) -> None:
        """Drop the database (cutting its clients off) and restore ``dump``: older data, older sequences."""
        with self.admin("postgres") as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
            create_database(admin)
        self._client_tool("pg_restore", "--exit-on-error", "-d", DATABASE, str(dump))

    def _client_tool(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(pg_bin() / program), "-h", str(self.data), "-p", str(self.port), "-U", ADMIN, *args],
            env=_ENV,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"{program} failed ({done.returncode}): {done.stderr}")

    def read_only(self, on: bool = True) -> None:
        """Make every new transaction read-only (as on a replica), or writable again; waits until
        a new connection sees it. The harness's own connections stay writable."""
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
        with self.admin("postgres") as admin:
            admin.execute(f"ALTER SYSTEM {setting}")
            admin.execute("SELECT pg_reload_conf()")
        wanted = "on" if on else "off"
        wait_for(lambda: self._default_read_only() == wanted, 10, f"default_transaction_read_only={wanted}")

    def _default_read_only(self) -> str:
        with psycopg.connect(host=str(self.data), port=self.port, user=ADMIN, dbname="postgres") as plain:
            row = plain.execute("SHOW default_transaction_read_only").fetchone()
        return str(row[0]) if row else ""

    def statements(self, application_name_prefix: str = "") -> Counter[str]:
        """Statements the server received per application_name starting with the prefix, from its
        log (``log_statements=True``): each simple query and each execute of a prepared or
        parameterized one (BEGIN and COMMIT included); not LISTEN's notifications, nor the
        harness's own (application_name ``pg_support``)."""
        assert self.log_statements, "start the server with log_statements=True"
        counts: Counter[str] = Counter()
        for line in self.log.read_text(errors="replace").splitlines():
            matched = _LOGGED_STATEMENT.match(line)
            if matched and matched["app"].startswith(application_name_prefix) and matched["app"] != HARNESS_APP:
                counts[matched["app"]] += 1
        return counts

    def kill(self) -> None:
        """Stop the server at once (immediate shutdown, then SIGKILL to any process left) and remove its data."""
        try:
            if self.process is not None:
                # An immediate shutdown that does not end in 10 s (seen once on a loaded machine, after a
                # pause) is no error here: stop_postmaster SIGKILLs the server and its children then.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    stop_postmaster(self.process, signal.SIGQUIT, timeout=10)
        finally:  # a shutdown that timed out (a loaded machine) left 48 MB of data in /tmp for good
            if self.root is not None:
                remove_shared_memory(self.data)
                shutil.rmtree(self.root, ignore_errors=True)
