"""The ownership record and the checks that keep deploy off what it did not create
(scheduler_proc/deploy/ownership.py), on layouts staged under tmp_path: the record is read back
only when it is a root-owned 0600 regular file naming the same app, a name already used on the
host is refused with every reason, and one deploy at a time holds the lock."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scheduler_proc.deploy import ownership
from scheduler_proc.deploy.layout import DeployError, Layout

# The record is written root-owned (fchown 0:0) and read back only when root owns it.
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the ownership record is root's")


def _record(app: str = "shop") -> ownership.Record:
    return ownership.Record(app, app, False, f"/etc/systemd/system/{app}.service", (f"/opt/{app}", f"/etc/{app}"))


def _saved(tmp_path: Path, app: str = "shop") -> Layout:
    layout = Layout(tmp_path, app)
    layout.etc.mkdir(parents=True)
    ownership.save(layout, _record(app))
    return layout


def test_a_saved_record_reads_back_and_is_a_root_owned_0600_file(tmp_path: Path) -> None:
    layout = _saved(tmp_path)
    assert ownership.load(layout) == _record()
    st = ownership.record_path(layout).lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 0, 0)
    assert sorted(path.name for path in layout.etc.iterdir()) == [ownership.RECORD_NAME]  # no temporary left


def test_an_app_without_a_record_has_none(tmp_path: Path) -> None:
    assert ownership.load(Layout(tmp_path, "shop")) is None


def test_a_record_others_may_read_or_write_is_not_deploys(tmp_path: Path) -> None:
    layout = _saved(tmp_path)
    os.chmod(ownership.record_path(layout), 0o644)
    with pytest.raises(DeployError, match=r"is not a root-owned 0600 file, so deploy did not write it; refusing"):
        ownership.load(layout)


def test_a_record_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    layout = _saved(tmp_path)
    real = tmp_path / "elsewhere"
    ownership.record_path(layout).rename(real)
    ownership.record_path(layout).symlink_to(real)
    with pytest.raises(DeployError, match=r"cannot be read safely .*; remove it if deploy did not write it"):
        ownership.load(layout)


def test_a_record_of_another_app_or_of_garbage_is_refused(tmp_path: Path) -> None:
    layout = _saved(tmp_path)
    other = ownership.record_path(layout)
    ownership.record_path(layout).unlink()
    ownership.save(layout, _record("shop2"))  # the record of shop2, found in shop's directory
    with pytest.raises(DeployError, match=r"records the app 'shop2', not 'shop'; refusing"):
        ownership.load(layout)
    other.write_bytes(b"not json\n")
    os.chmod(other, 0o600)
    with pytest.raises(DeployError, match=r"deploy did not write it: refusing"):
        ownership.load(layout)


def test_a_new_app_on_an_empty_stage_gets_a_record_of_what_deploy_will_make(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    record = ownership.claim(layout, staged=True)
    assert record == ownership.Record(
        "shop", "shop", False, "/etc/systemd/system/shop.service", ("/opt/shop", "/etc/shop", "/var/lib/shop")
    )
    assert ownership.load(layout) == record and ownership.claim(layout, staged=True) == record
    assert ownership.listed(layout, record, layout.opt) and ownership.listed(layout, record, layout.state)
    assert not ownership.listed(layout, record, layout.releases) and ownership.listed_unit(layout, record)


def test_every_thing_of_the_apps_name_on_the_host_is_named_in_the_refusal(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "redis")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nredis:x:101:101::/var/lib/redis:/bin/false\n")
    unit = tmp_path / "lib/systemd/system/redis.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\n")
    layout.state.mkdir(parents=True)
    with pytest.raises(DeployError) as error:
        ownership.claim(layout, staged=True)
    message = str(error.value)
    assert message.startswith("--app redis: the system user 'redis' exists; the unit ") and message.endswith(
        "choose another APP"
    )
    assert f"{unit} exists" in message and f"{layout.state} exists" in message
    assert ownership.load(layout) is None and not layout.etc.exists()  # nothing written


def test_a_group_of_the_apps_name_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("shop:x:1001:\n")
    with pytest.raises(DeployError, match=r"--app shop: the group 'shop' exists, not created by make deploy"):
        ownership.claim(Layout(tmp_path, "shop"), staged=True)


def test_on_the_host_a_system_user_of_the_apps_name_is_refused(tmp_path: Path) -> None:
    """Unstaged, the accounts are the host's own (only read here): ``--app root`` never takes root over."""
    with pytest.raises(DeployError, match=r"--app root: the system user 'root' exists"):
        ownership.claim(Layout(tmp_path, "root"), staged=False)
    assert not (tmp_path / "etc").exists()


def test_an_install_from_before_the_record_is_adopted_without_claiming_its_user(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "kit-unit-legacy")
    layout.unit.parent.mkdir(parents=True)
    layout.unit.write_text(f"{ownership.LEGACY_HEADER}; edit scheduler_proc/deploy/app.service.in in the kit\n")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("BIND=127.0.0.1:8000\n")
    layout.opt.mkdir(parents=True)
    layout.current.symlink_to("releases/abc")
    assert ownership.claim(layout, staged=False).user_created is False


def test_rollback_and_undeploy_without_a_record_touch_nothing(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"--app shop: nothing named 'shop' exists, not created by make deploy"):
        ownership.owned(Layout(tmp_path, "shop"))
    layout = _saved(tmp_path)
    assert ownership.owned(layout) == _record()


def test_a_second_deploy_is_told_the_pid_of_the_one_holding_the_lock(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    with ownership.deploy_lock(layout):
        lock = layout.at(ownership.LOCK)
        assert lock.read_text() == f"{os.getpid()}\n" and stat.S_IMODE(lock.stat().st_mode) == 0o600
        # flock belongs to the open file: a second open, even in this process, is a second deploy.
        busy = rf"another deploy \(pid {os.getpid()}\) is running on this host"
        with pytest.raises(DeployError, match=busy), ownership.deploy_lock(layout):
            pass
    with ownership.deploy_lock(layout):  # released when the first ended
        pass


def test_a_deploy_lock_that_is_a_link_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "shop")
    lock = layout.at(ownership.LOCK)
    lock.parent.mkdir(parents=True)
    lock.symlink_to(tmp_path / "target")
    refused = r"the deploy lock .* is a symbolic link; remove it, then deploy again"
    with pytest.raises(DeployError, match=refused), ownership.deploy_lock(layout):
        pass
    assert not (tmp_path / "target").exists()
