"""The cluster backend's checks at start: the Redis answers us, lets scripts read INFO, never evicts keys,
and no scheduler of this app still leads under the namespace that was the default before 0.2."""

from __future__ import annotations

import logging

import redis

from scheduler_proc.coordination.redis.conn import ACL_NEEDED, Client, call, connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.identity import TEMPLATE_NAMESPACE
from scheduler_proc.settings import RedisSettings, Settings

log = logging.getLogger("scheduler.backend")


def check_server(settings: Settings, redis_settings: RedisSettings) -> None:
    """At start: raise RedisConfigError on refused credentials or TLS, or a Redis unfit to keep claims.

    Redis being down is not an error: the runner waits as standby, and the lease logs
    that state once (so it is not logged here too).
    """
    client = connect(redis_settings)
    try:
        call(redis_settings, client.ping)
        check_info_in_scripts(redis_settings, client, Keys(settings.namespace))
        check_eviction_policy(redis_settings, client)
        warn_of_the_old_default_namespace(settings, client)
    except RedisUnavailable:
        pass
    finally:
        client.close()


def warn_of_the_old_default_namespace(settings: Settings, client: Client) -> None:
    """Before 0.2 every app's default namespace was ``scheduler``. A project that upgrades host by
    host, with a namespace now derived from its jobs module, would lead twice meanwhile (once per
    namespace) and run each fire twice: say so when the old namespace has a leader."""
    if settings.redis is None or settings.namespace == TEMPLATE_NAMESPACE or not settings.namespace_derived:
        return
    if call(settings.redis, lambda: client.exists(Keys(TEMPLATE_NAMESPACE).leader)):
        log.warning(
            "a scheduler leads namespace %r on this Redis, the default before 0.2, while this one uses %r "
            "(derived from SCHEDULER_JOBS=%r): if that is this app on hosts not yet upgraded, both run every "
            "fire until they are; set SCHEDULER_NAMESPACE=%s on every host to keep the old one",
            TEMPLATE_NAMESPACE,
            settings.namespace,
            settings.jobs_ref,
            TEMPLATE_NAMESPACE,
        )


def check_info_in_scripts(settings: RedisSettings, client: Client, keys: Keys) -> None:
    """The lease scripts read Redis's run id (INFO) to notice a restart or failover that lost claims."""
    try:
        call(settings, lambda: client.eval("return redis.call('INFO', 'server') ~= nil", 1, keys.leader))
    except (redis.ResponseError, RedisConfigError) as exc:
        raise RedisConfigError(
            f"Redis at {settings.target} does not let the scheduler run INFO in a script "
            f"({str(exc).split(';')[0]}); the kit reads Redis's run id to notice a restart or failover that lost "
            f"claims: give the ACL user {ACL_NEEDED} (ACL SETUSER <user> +info), and do not rename INFO"
        ) from None


def check_eviction_policy(settings: RedisSettings, client: Client) -> None:
    """Refuse a Redis that may delete keys under memory pressure: a deleted claim lets a fire run twice."""
    try:
        policy = str(call(settings, lambda: client.config_get("maxmemory-policy")).get("maxmemory-policy", ""))
    except (redis.ResponseError, RedisConfigError) as exc:
        log.warning(
            "cannot read Redis's maxmemory-policy (%s); make sure it is noeviction, or a claim evicted under "
            "memory pressure could let a fire run twice",
            str(exc).split(";")[0],
        )
        return
    if policy and policy != "noeviction":
        raise RedisConfigError(
            f"Redis at {settings.target} has maxmemory-policy {policy}: under memory pressure it deletes keys, "
            "and a deleted claim or lease lets a fire run twice; set `maxmemory-policy noeviction` "
            "(redis.conf, or CONFIG SET) or give the scheduler a Redis of its own"
        )
