"""Cron jobs in two made-up zones whose clocks change during a test (see tests/tzfiles.py).

$DST_HOUR is the local hour around the change. ``*_fixed`` jobs have a minute field that
does not start with '*' (cron's fixed-time jobs); ``*_wild`` ones do (scheduled by elapsed time).
"""

from __future__ import annotations

import os

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()
_HOUR = int(os.environ.get("DST_HOUR", "12"))
_HOURS = f"{_HOUR},{(_HOUR + 1) % 24}"


@jobs.cron(f"0-59 {_HOUR} * * *", id="forward_fixed", timezone="Kit/Forward")
def forward_fixed(ctx: RunContext) -> None:
    record(ctx)


@jobs.cron(f"* {_HOUR} * * *", id="forward_wild", timezone="Kit/Forward")
def forward_wild(ctx: RunContext) -> None:
    record(ctx)


@jobs.cron(f"0-59 {_HOURS} * * *", id="back_fixed", timezone="Kit/Back")
def back_fixed(ctx: RunContext) -> None:
    record(ctx)


@jobs.cron(f"* {_HOURS} * * *", id="back_wild", timezone="Kit/Back")
def back_wild(ctx: RunContext) -> None:
    record(ctx)
