"""The exception family of the kit: each message names the thing, the bad value and the fix."""

from __future__ import annotations


class SchedulerError(Exception):
    """Base class for every error the kit raises on purpose."""


class SettingsError(SchedulerError):
    """A ``SCHEDULER_*`` environment variable has a value the kit cannot use."""


class JobDefinitionError(SchedulerError):
    """A job in the jobs module is defined wrongly (crontab, timezone, id, signature)."""


class JobsModuleError(SchedulerError):
    """``SCHEDULER_JOBS`` does not lead to a usable ``Jobs`` object."""


class LockDirError(SchedulerError):
    """The host lock or state directory is unsafe or unusable."""


class HostLockError(SchedulerError):
    """The host lock file could not be opened or checked."""


class StoreConfigError(SchedulerError):
    """The cluster's store (Redis or PostgreSQL) answered, but refused us. Not transient."""


class StoreUnavailable(SchedulerError):
    """The cluster's store did not answer (down, paused, failing over). Transient: wait as standby and retry."""


class RedisConfigError(StoreConfigError):
    """Redis answered, but refused us: wrong credentials, TLS failure, wrong server. Not transient."""


class RedisUnavailable(StoreUnavailable):
    """Redis did not answer (down, paused, failing over). Transient: wait as standby and retry."""


class PostgresConfigError(StoreConfigError):
    """PostgreSQL answered, but refused us: credentials, TLS, privileges, a read-only server. Not transient."""


class PostgresUnavailable(StoreUnavailable):
    """PostgreSQL did not answer, or dropped the connection (down, paused, restarting). Transient."""


class UnknownJob(SchedulerError):
    """No job with that id in the running scheduler."""


class NoScheduler(SchedulerError):
    """No scheduler runs on this host, so nothing can be answered or carried out."""


class NoAnswer(SchedulerError):
    """The command was sent but no leader acknowledged it in time."""


class UnreadableData(SchedulerError, ValueError):
    """A value read back from Redis or a state file is not what the kit wrote there; the message names the key
    and the fix. Never fatal: the reader skips the value (or the kit replaces it) and logs it once."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class LedgerError(SchedulerError):
    """The local ledger cannot be read or written (a full or read-only state directory, a corrupt
    file); ``summary`` says what in a few words without a path, the message names the file and the fix."""

    def __init__(self, summary: str, message: str) -> None:
        super().__init__(message)
        self.summary = summary
