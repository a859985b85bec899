"""REDIS=local and REDIS=<url> (scheduler_proc/deploy/redis_local.py) on layouts staged under
tmp_path: the block deploy adds to redis.conf, the one password Redis has, the env file pointed
at it, and redis.conf written as root without following a link."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from scheduler_proc.deploy.layout import DeployError, Layout, read_env
from scheduler_proc.deploy.redis_local import (
    ConfFile,
    _own_redis_block,
    _password_set_in,
    point_at_redis,
    remove_local_redis,
    setup_local_redis,
)

DEBIAN_CONF = "# Debian's redis.conf\nbind 127.0.0.1 -::1\nport 6379\n"


def _layout(tmp_path: Path, app: str = "shop", conf: str | None = DEBIAN_CONF) -> Layout:
    layout = Layout(tmp_path, app)
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text("BIND=127.0.0.1:8000\n")
    if conf is not None and not layout.redis_conf.exists():
        layout.redis_conf.parent.mkdir(parents=True, exist_ok=True)
        layout.redis_conf.write_text(conf)
    return layout


def test_local_redis_gets_the_kits_settings_in_a_block_and_the_env_file_its_password(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    assert setup_local_redis(layout, staged=True) is True
    conf = layout.redis_conf.read_text()
    assert conf.startswith(DEBIAN_CONF)  # the file's own lines stay
    block = _own_redis_block(layout, conf)
    assert block.splitlines()[0] == "# BEGIN shop (make deploy REDIS=local)" and block.endswith("# END shop")
    for line in ("appendonly yes", "appendfsync always", "maxmemory-policy noeviction", "protected-mode yes"):
        assert f"\n{line}\n" in block
    password = _password_set_in(conf, layout.redis_conf)
    assert password is not None and len(password) == 48
    env = read_env(layout.env_file)
    assert env["SCHEDULER_REDIS_URL"] == "redis://127.0.0.1:6379/0" and env["SCHEDULER_REDIS_PASSWORD"] == password
    assert stat.S_IMODE(layout.redis_conf.stat().st_mode) == 0o640
    # Again: nothing changes, and the service need not restart.
    assert setup_local_redis(layout, staged=True) is False and layout.redis_conf.read_text() == conf


def test_a_second_app_takes_the_password_redis_has_and_purging_one_leaves_the_other(tmp_path: Path) -> None:
    shop, shop2 = _layout(tmp_path, "shop"), _layout(tmp_path, "shop2")
    setup_local_redis(shop, staged=True)
    setup_local_redis(shop2, staged=True)
    conf = shop.redis_conf.read_text()
    assert read_env(shop.env_file)["SCHEDULER_REDIS_PASSWORD"] == read_env(shop2.env_file)["SCHEDULER_REDIS_PASSWORD"]
    shop_block, shop2_block = _own_redis_block(shop, conf), _own_redis_block(shop2, conf)
    assert shop_block and shop2_block and shop_block != shop2_block
    remove_local_redis(shop, staged=True)
    after = shop.redis_conf.read_text()
    assert _own_redis_block(shop, after) == "" and _own_redis_block(shop2, after) == shop2_block
    assert after.startswith(DEBIAN_CONF) and after.endswith(f"\n{shop2_block}\n")
    assert [line for line in after.splitlines() if line] == [*DEBIAN_CONF.splitlines(), *shop2_block.splitlines()]
    remove_local_redis(shop, staged=True)  # nothing of shop's left: nothing changes
    assert shop.redis_conf.read_text() == after


def test_an_admins_password_stays_and_the_env_file_an_earlier_deploy_wrote_follows_it(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    setup_local_redis(layout, staged=True)
    conf = layout.redis_conf.read_text()
    os.chmod(layout.env_file, 0o640)
    layout.redis_conf.write_text(conf + "requirepass 'admins-choice'\n")  # the last requirepass is the one
    assert setup_local_redis(layout, staged=True) is True
    assert read_env(layout.env_file)["SCHEDULER_REDIS_PASSWORD"] == "admins-choice"
    assert stat.S_IMODE(layout.env_file.stat().st_mode) == 0o640  # rewritten with its mode kept
    assert _password_set_in(layout.redis_conf.read_text(), layout.redis_conf) == "admins-choice"


def test_an_env_file_the_operator_pointed_elsewhere_is_left_alone(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    layout.env_file.write_text("SCHEDULER_REDIS_URL=redis://10.0.0.5:6379/0\n")
    assert setup_local_redis(layout, staged=True) is False
    assert layout.env_file.read_text() == "SCHEDULER_REDIS_URL=redis://10.0.0.5:6379/0\n"


@pytest.mark.parametrize(
    ("conf", "password"),
    [
        ("", None),
        ("requirepass one\nrequirepass two\n", "two"),
        ('  RequirePass "quoted!"  \r\n', "quoted!"),
        ("requirepass one\nrequirepass ''\n", None),  # an empty value turns the password off
        ("# requirepass commented\n", None),
    ],
)
def test_the_password_is_read_as_redis_reads_it(conf: str, password: str | None) -> None:
    assert _password_set_in(conf, Path("/etc/redis/redis.conf")) == password


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ("aclfile /etc/redis/users.acl\n", r"line 1: `aclfile \.\.\.` may set Redis's password"),
        ("port 6379\ninclude /etc/redis/more.conf\n", r"line 2: `include \.\.\.` may set"),
        ("user default on >secret-value ~* +@all\n", r"line 1: `user default \.\.\.` may set"),
        ("requirepass secret value\n", r"line 1: the requirepass value has spaces, escapes or unbalanced quotes"),
        ('requirepass "secret-value\n', r"line 1: the requirepass value has spaces"),
        ("requirepass secret\\value\n", r"line 1: the requirepass value has spaces"),
    ],
)
def test_a_password_deploy_cannot_read_for_sure_is_refused_without_showing_it(conf: str, message: str) -> None:
    with pytest.raises(DeployError, match=message) as error:
        _password_set_in(conf, Path("/etc/redis/redis.conf"))
    assert "secret" not in str(error.value)


def test_a_user_other_than_default_does_not_stop_the_password_being_read() -> None:
    assert _password_set_in("user worker on >x ~* +@all\nrequirepass p\n", Path("redis.conf")) == "p"


def test_a_block_is_found_by_its_whole_marks_only(tmp_path: Path) -> None:
    demo, demo2 = Layout(tmp_path, "demo"), Layout(tmp_path, "demo2")
    block2 = "# BEGIN demo2 (make deploy REDIS=local)\nrequirepass b\n# END demo2"
    assert _own_redis_block(demo, f"x\n{block2}\n") == ""
    assert _own_redis_block(demo2, f"x\n{block2}\n") == block2
    # demo's block lost its END: it never swallows demo2's, whose END would otherwise close it.
    broken = "# BEGIN demo (make deploy REDIS=local)\nrequirepass a\n"
    assert _own_redis_block(demo, broken + block2 + "\n# END demo\n") == ""


def test_a_redis_url_goes_to_the_env_file_with_its_password_apart_and_once(tmp_path: Path) -> None:
    layout = _layout(tmp_path, conf=None)
    assert point_at_redis(layout, "redis://worker:p%40ss@[fd00::5]:6380/2") is True
    env = read_env(layout.env_file)
    assert env["SCHEDULER_REDIS_URL"] == "redis://worker@[fd00::5]:6380/2"
    assert env["SCHEDULER_REDIS_PASSWORD"] == "p@ss"
    assert point_at_redis(layout, "redis://10.0.0.9:6379/0") is False  # written once, like the file
    assert read_env(layout.env_file)["SCHEDULER_REDIS_URL"] == "redis://worker@[fd00::5]:6380/2"


def test_a_redis_url_without_a_password_writes_none(tmp_path: Path) -> None:
    layout = _layout(tmp_path, conf=None)
    point_at_redis(layout, "rediss://redis.internal/0")
    env = read_env(layout.env_file)
    assert env["SCHEDULER_REDIS_URL"] == "rediss://redis.internal/0" and "SCHEDULER_REDIS_PASSWORD" not in env


def test_a_redis_password_the_env_file_cannot_carry_is_refused(tmp_path: Path) -> None:
    layout = _layout(tmp_path, conf=None)
    with pytest.raises(DeployError, match=r"^REDIS: the value holds a control character"):
        point_at_redis(layout, "redis://:a%22b@10.0.0.5:6379/0")


def test_redis_conf_that_is_a_link_is_neither_read_nor_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    conf = tmp_path / "etc/redis/redis.conf"
    conf.parent.mkdir(parents=True)
    conf.symlink_to(victim)
    with pytest.raises(DeployError, match=r"is a symbolic link; deploy runs as root and will not write through it"):
        ConfFile(conf).write(b"requirepass x\n")
    with pytest.raises(DeployError, match=r"is a symbolic link"):
        ConfFile(conf).read()
    assert victim.read_text() == "root:secret\n"


def test_redis_conf_with_a_second_hard_link_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    conf = tmp_path / "redis.conf"
    os.link(victim, conf)
    with pytest.raises(DeployError, match=r"is not a regular file with a single link"):
        ConfFile(conf).write(b"requirepass x\n")
    assert victim.read_text() == "root:secret\n"


def test_a_redis_directory_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "redis").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DeployError, match=re.escape(f"{tmp_path / 'redis'} is a symbolic link")):
        ConfFile(tmp_path / "redis/redis.conf").write(b"x\n")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_redis_conf_is_created_when_missing_and_rewritten_in_place(tmp_path: Path) -> None:
    conf = ConfFile(tmp_path / "etc/redis/redis.conf")
    assert conf.read() == b""
    conf.write(b"a long first version\n")
    inode = conf.path.stat().st_ino
    conf.write(b"short\n")
    assert conf.read() == b"short\n" and conf.path.stat().st_ino == inode  # its owner and inode stay
