"""The log formats (scheduler_proc/logs.py)."""

from __future__ import annotations

import json
import logging


def test_json_log_lines_carry_the_fields_of_extra_and_mask_them() -> None:
    """A user's logging.info(..., extra={...}) keeps its fields as keys in JSON logs (they were dropped)."""
    from scheduler_proc.logs import JsonFormatter
    from scheduler_proc.redact import remember

    remember(["s3cr3t-value-0123"])
    record = logging.LogRecord("shop.jobs", logging.INFO, "", 0, "synced %d orders", (3,), None)
    record.order_batch = 7
    record.token_used = "s3cr3t-value-0123"
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["order_batch"], line["token_used"]) == ("synced 3 orders", 7, "***"), line
    assert "job_id" not in line, "only the kit's own lines are read for fire fields"


def test_a_fire_start_line_gives_its_fields_as_keys_the_origin_among_them() -> None:
    """The line the runner writes (runner/execution.py): term is a number, the origin a word."""
    from scheduler_proc.logs import JsonFormatter

    message = "fire start job=%s scheduled_at=%s node=%s run_id=%s term=%s origin=%s"
    args = ("sync", "2026-12-04T15:00:00+00:00", "web-1", "ab12", 7, "manual")
    record = logging.LogRecord("scheduler.fire", logging.INFO, "", 0, message, args, None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["job_id"], line["term"], line["origin"]) == ("sync", 7, "manual"), line
    assert "trigger" not in line
