"""One VM-like host under a real systemd: `make deploy` of a user's own project (``shop``, the kit
installed from its wheel, not the kit's demo app/), then what operators do to it.

Each step asserts on the fire log of the 1-second job (which second ran, in which process and
release), not on timing alone.
"""

from __future__ import annotations

import re
import time

from firelog import Fire, doubled, first_tick_after, now, scenario, ticks, wait_ticks
from lab import APP, OFFLINE, PROJECT, Lab
from machines import fires
from support import wait_for

PROJECT_MODE = True
DEPLOY = [f"APP={APP}", "BIND=0.0.0.0:8000", *PROJECT]


def _pid(lab: Lab, pattern: str) -> int:
    [machine] = lab.machines
    pids = wait_for(lambda: machine.pids(pattern), 20, f"a process matching {pattern!r}")
    return int(pids[0])


def test_deploy_reload_crashes_stop_and_redeploy(lab: Lab) -> None:
    host = lab.host("web1", 11)

    def read() -> list[Fire]:
        return fires(host, APP)

    output = lab.make(host, "deploy", *DEPLOY)
    assert "healthy:" in output and "scheduler role leader" in output, output
    assert host.run(["systemctl", "is-active", APP]).stdout.strip() == "active"
    assert host.file(f"/opt/{APP}/current/shop/jobs.py").exists() and not host.file(f"/opt/{APP}/current/app").exists()
    unit = host.file(f"/etc/systemd/system/{APP}.service").read_text()
    assert "gunicorn -c python:scheduler_proc.gunicorn_conf shop.main:app\n" in unit, unit
    started = now()
    wait_ticks(read, 0, 3, 20, "first fires")
    status, body = lab.network.curl(f"http://{host.address}:8000/scheduler/status")
    assert status == 200 and '"role":"leader"' in body, body
    assert lab.network.curl(f"http://{host.address}:8000/scheduler/readyz")[0] == 200

    # systemctl reload: HUP, a new runner, no second lost or doubled
    fault = now()
    host.run(["systemctl", "reload", APP])
    wait_ticks(read, fault, 5, 30, "fires after the reload")
    scenario("single: reload", read, [host], APP, started + 1, fault, now() - 1)

    for what, pattern in (
        ("runner", "scheduler_proc.runner"),
        ("supervisor", "scheduler_proc.supervisor"),
        ("master", "gunicorn -c"),
    ):
        fault = now()
        host.run(["kill", "-9", str(_pid(lab, pattern))])
        wait_ticks(read, fault + 1, 3, 60, f"fires after kill -9 of the {what}")
        scenario(f"single: kill -9 {what}", read, [host], APP, fault - 2, fault, now() - 1)
    assert host.run(["systemctl", "is-active", APP]).stdout.strip() == "active"

    # systemctl stop while a job runs: it finishes (stop grace); nothing starts after the stop
    host.run(["sh", "-c", f"echo VM_LONG_SECONDS=6 >> /etc/{APP}/env"])
    host.run(["systemctl", "restart", APP])
    long_start = wait_for(
        lambda: [f for f in read() if f["job"] == "long" and f.get("event") == "start" and float(f["started"]) > fault],
        30,
        "the long job to start",
    )[0]
    stopped = now()
    host.run(["systemctl", "stop", APP], timeout=120)
    ends = [
        f
        for f in read()
        if f["job"] == "long" and f.get("event") == "end" and f["scheduled_at"] == long_start["scheduled_at"]
    ]
    assert ends, "the running job was not let finish"
    assert not [f for f in ticks(read()) if float(f["started"]) > stopped + 0.2], "a fire started after the stop"
    host.run(["sh", "-c", f"sed -i /VM_LONG_SECONDS/d /etc/{APP}/env"])
    host.run(["systemctl", "start", APP], timeout=180)
    wait_ticks(read, now(), 2, 30, "fires after the start")

    # the same code again: nothing changes, nothing restarts
    master = _pid(lab, "gunicorn -c")
    again = lab.make(host, "deploy", *DEPLOY)
    assert "nothing changed; the service keeps running" in again, again
    assert _pid(lab, "gunicorn -c") == master
    assert not doubled(read())


def test_a_broken_release_fails_fast_is_rolled_back_and_never_fires(lab: Lab) -> None:
    host = lab.host("web1", 11)

    def read() -> list[Fire]:
        return fires(host, APP)

    lab.make(host, "deploy", *DEPLOY, "REDIS=local")
    first_release = host.file(f"/opt/{APP}/current").readlink().name
    wait_ticks(read, 0, 2, 30, "first fires")

    # Broken so that no worker boots: readiness is the kit's /scheduler/livez (the project has no /healthz).
    main = lab.project / "shop/main.py"
    healthy = main.read_text()
    main.write_text(healthy + '\nraise RuntimeError("broken release")\n')
    began = time.monotonic()
    failed = host.run(
        ["make", "--no-print-directory", "-C", "/src", "deploy", *DEPLOY],
        check=False,
        env=OFFLINE,
        timeout=900,
    )
    took = time.monotonic() - began
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and f"rolled back to {first_release}" in output, output
    assert took < 150, f"the broken release took {took:.0f}s to be given up"
    broken = {f["release"] for f in read()} - {first_release}
    assert not broken, f"the broken release ran fires: {broken}"
    assert host.file(f"/opt/{APP}/current").readlink().name == first_release
    wait_ticks(read, now(), 2, 30, "fires of the rolled-back release")

    main.write_text(healthy + "\n# release three\n")
    lab.make(host, "deploy", *DEPLOY)
    assert host.file(f"/opt/{APP}/current").readlink().name != first_release
    rolled = lab.make(host, "rollback", f"APP={APP}")
    assert "healthy:" in rolled, rolled
    assert host.file(f"/opt/{APP}/current").readlink().name == first_release
    status = lab.make(host, "status", f"APP={APP}")
    assert "node web1: leader (cluster)" in status, status

    # The unit's exposure under this systemd (issue 23 asks for the number): printed, and held to 1.1
    # (0.9 with the loopback address list; BIND=0.0.0.0 here serves clients from anywhere, so no list).
    security = host.run(["systemd-analyze", "security", f"{APP}.service"], check=False)
    exposure = re.search(r"Overall exposure level for .*: (\d+\.\d+)", security.stdout + security.stderr)
    assert exposure, security.stdout + security.stderr
    print(f"systemd-analyze security {APP}.service on the VM: exposure {exposure[1]}")
    assert float(exposure[1]) <= 1.1, security.stdout

    # Names deploy did not create (redis-server's user, unit and files are here now) are refused by
    # every action, and nothing of theirs is touched.
    for name in ("redis", "root", "nobody"):
        for action in (["deploy", *PROJECT], ["undeploy", "PURGE=1"], ["rollback"]):
            refused = lab.make(host, action[0], f"APP={name}", *action[1:], check=False)
            assert "not created by make deploy" in refused and "choose another APP" in refused, refused
    assert host.run(["systemctl", "is-active", "redis-server"]).stdout.strip() == "active"
    assert host.file("/etc/redis/redis.conf").exists() and host.run(["id", "redis"], check=False).returncode == 0

    lab.make(host, "undeploy", f"APP={APP}")
    assert not host.file(f"/opt/{APP}").exists() and host.file(f"/etc/{APP}/env").exists()
    assert host.run(["systemctl", "is-active", APP], check=False).stdout.strip() != "active"
    assert first_tick_after(read(), now() + 0) is None
    lab.make(host, "undeploy", f"APP={APP}", "PURGE=1")
    assert not host.file(f"/etc/{APP}").exists() and not host.file(f"/var/lib/{APP}").exists()
    assert f"BEGIN {APP}" not in host.file("/etc/redis/redis.conf").read_text(), "purge left the app's Redis settings"
    assert host.run(["id", APP], check=False).returncode != 0, "purge kept the user deploy created"
