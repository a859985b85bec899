"""Resolve ``SCHEDULER_JOBS`` (``package.module:attribute``) to a ``Jobs`` object, with clear errors."""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path

from scheduler_proc.errors import JobDefinitionError, JobsModuleError
from scheduler_proc.identity import TEMPLATE_JOBS
from scheduler_proc.jobs import Jobs
from scheduler_proc.redact import redact


def load_jobs(ref: str) -> Jobs:
    """Import the module named in ``ref`` and return its ``Jobs`` attribute.

    Every failure becomes a :class:`JobsModuleError` whose message names the setting,
    the value, what went wrong (with the file and line of an import-time exception)
    and the fix.
    """
    module_name, _, attribute = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except JobDefinitionError as exc:
        raise JobsModuleError(f"SCHEDULER_JOBS={ref!r}: {exc}{_where(exc)}") from None
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            hint = (
                " (that is the default, the template's demo: set SCHEDULER_JOBS to your own, "
                "for example SCHEDULER_JOBS=shop.jobs:jobs)"
                if ref == TEMPLATE_JOBS
                else ""
            )
            raise JobsModuleError(
                f"SCHEDULER_JOBS={ref!r}: module {exc.name!r} not found{hint}; check the spelling "
                "and that the directory gunicorn runs in (chdir) contains it"
            ) from None
        raise JobsModuleError(_import_failure(ref, exc)) from None
    except (Exception, SystemExit) as exc:  # the user's module may raise anything at import (sys.exit too)
        raise JobsModuleError(_import_failure(ref, exc)) from None
    try:
        jobs = getattr(module, attribute)
    except AttributeError:
        raise JobsModuleError(
            f"SCHEDULER_JOBS={ref!r}: module {module_name!r} has no attribute {attribute!r}; "
            f"define `{attribute} = Jobs()` there or point SCHEDULER_JOBS at the right name"
        ) from None
    if not isinstance(jobs, Jobs):
        raise JobsModuleError(
            f"SCHEDULER_JOBS={ref!r}: {attribute!r} is a {type(jobs).__name__}, not a "
            "scheduler_proc.Jobs; create it with `from scheduler_proc import Jobs; jobs = Jobs()`"
        )
    return jobs


def _import_failure(ref: str, exc: BaseException) -> str:
    return (
        f"SCHEDULER_JOBS={ref!r}: importing the module raised "
        f"{type(exc).__name__}: {redact(str(exc))}{_where(exc)}; fix the module so it imports cleanly"
    )


def _where(exc: BaseException) -> str:
    """' at file:line' of the innermost frame in the user's code (not the kit's, nor the import machinery's)."""
    kit = str(Path(__file__).resolve().parent)
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(kit) and not frame.filename.startswith("<frozen")
    ]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
