"""No secret shows in the output of any process the kit starts (scheduler_proc/logs.py: mask_output,
mask_handlers): the gunicorn master, its web workers, the supervisor, the runner, and the jobs'
print() and stderr; a user's own key=value line stays as it is."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from urllib.parse import quote

import httpx
from redis_support import RedisServer
from support import Host, HostFactory, read_fires, wait_for

PASSWORD = "p/w7"  # under 8 characters, and percent-encoded in the URL
ADMIN_TOKEN = "adm1n-t0ken-leaky-0123456789"
READ_TOKEN = "r3ad-t0ken-leaky-0123456789"


def test_no_secret_shows_in_any_processs_output(hosts: HostFactory, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password=PASSWORD).start()
    try:
        url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/0"
        secrets = [PASSWORD, quote(PASSWORD, safe=""), ADMIN_TOKEN, READ_TOKEN]
        host = hosts(
            jobs="leaky:jobs",
            extra_args=["-c", "python:leaky_conf"],
            env={
                "SCHEDULER_REDIS_URL": url,
                "SCHEDULER_ADMIN_TOKEN": ADMIN_TOKEN,
                "SCHEDULER_READ_TOKEN": READ_TOKEN,
                "LEAK_SECRETS": ",".join([*secrets, url]),
            },
        ).start()
        wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 20, "two fires of the leaking job")
        assert host.get("/leak").text.startswith("leaked by ")
        unknown = host.get(f"/scheduler/jobs/{ADMIN_TOKEN}", headers={"Authorization": f"Bearer {READ_TOKEN}"})
        assert unknown.status_code == 404 and ADMIN_TOKEN not in unknown.text and "***" in unknown.text, unknown.text
        invalid = host.get(
            f"/scheduler/jobs/leak?limit={ADMIN_TOKEN}", headers={"Authorization": f"Bearer {READ_TOKEN}"}
        )
        assert invalid.status_code == 422 and ADMIN_TOKEN not in invalid.text and "***" in invalid.text, invalid.text
        wait_for(lambda: host.output().count("worker logs") >= 5, 5, "the worker's lines")
        _reload_and_leak_from_a_new_worker(host)
        output = host.output()
    finally:
        server.kill()
    for where in ("master logs", "master prints", "worker logs", "worker prints", "job prints", "job writes"):
        assert f"{where} ***" in output, where
    assert "job prints in pieces ***" in output and "job logs ***" in output
    for raw in ("to the bytes buffer", "to fd 2", "a subprocess echoes ***", "and to stderr ***"):
        assert raw in output, raw  # written past Python's sys.stdout: relayed, masked, by the supervisor
    assert "redis://:***@127.0.0.1" in output
    for secret in secrets:
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", output), secret
    assert re.search(r"fencing token=\d+ for job leak", output), "the user's own line was rewritten"


def _reload_and_leak_from_a_new_worker(host: Host) -> None:
    """HUP: gunicorn makes new log handlers and new workers; a new worker's lines are masked too."""
    before = len(host.output())
    host.signal(signal.SIGHUP)

    def new_workers() -> set[str]:
        return set(re.findall(r"Booting worker with pid: (\d+)", host.output()[before:]))

    wait_for(lambda: len(new_workers()) >= 2, 20, "new workers after HUP")

    def answered_by_a_new_worker() -> bool:
        try:
            return host.get("/leak").text.split()[-1] in new_workers()
        except httpx.HTTPError:  # an old worker stopping while it answers
            return False

    wait_for(answered_by_a_new_worker, 20, "a new worker's answer")
    wait_for(lambda: "worker logs" in host.output()[before:], 5, "the new worker's lines")


def test_a_system_exit_at_jobs_import_refuses_the_start_with_its_message_masked(hosts: HostFactory) -> None:
    host = hosts(jobs="exits_on_import:jobs", env={"SCHEDULER_ADMIN_TOKEN": ADMIN_TOKEN}).start()
    assert host.wait_exit(30) != 0
    output = host.output()
    assert re.search(r"Error: scheduler: .*importing the module raised SystemExit: cannot start with \*\*\*", output), (
        output
    )
    assert ADMIN_TOKEN not in output and "Traceback" not in output


def test_the_redacting_stream_masks_a_secret_written_in_pieces_and_a_partial_line_on_flush() -> None:
    import io

    from scheduler_proc.logs import RedactingStream
    from scheduler_proc.settings import Settings

    Settings.from_env({"SCHEDULER_ADMIN_TOKEN": ADMIN_TOKEN})
    out = io.StringIO()
    stream = RedactingStream(out)
    stream.write(ADMIN_TOKEN[:5])
    stream.write(ADMIN_TOKEN[5:] + " done\nnext ")
    assert out.getvalue() == "*** done\n"
    stream.write(ADMIN_TOKEN)
    stream.flush()
    assert out.getvalue() == "*** done\nnext ***"


def test_gunicorns_log_file_is_masked_before_and_after_a_hup(hosts: HostFactory, tmp_path: Path) -> None:
    """A --error-logfile handler writes to its file, not through the masked stderr: its filter does
    the masking, and a HUP (gunicorn makes new handlers) must put it back."""
    log_file = tmp_path / "error.log"
    host = hosts(
        jobs="leaky:jobs",
        extra_args=["-c", "python:leaky_conf", "--error-logfile", str(log_file)],
        env={"SCHEDULER_ADMIN_TOKEN": ADMIN_TOKEN, "LEAK_SECRETS": ADMIN_TOKEN},
    ).start()
    wait_for(lambda: log_file.exists() and "master logs" in log_file.read_text(), 20, "the master's line")
    before = len(log_file.read_text())
    host.signal(signal.SIGHUP)

    def answered_by_a_new_worker() -> bool:
        new_workers = re.findall(r"Booting worker with pid: (\d+)", log_file.read_text()[before:])
        try:
            return host.get("/leak").text.split()[-1] in new_workers
        except httpx.HTTPError:  # old workers stopping, new ones starting
            return False

    wait_for(answered_by_a_new_worker, 30, "a new worker's answer after the HUP")
    wait_for(lambda: "worker logs" in log_file.read_text()[before:], 5, "the new worker's line")
    text = log_file.read_text()
    assert "master logs ***" in text and "worker logs ***" in text[before:], text
    assert ADMIN_TOKEN not in text, text
