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
