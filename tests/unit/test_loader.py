"""Loading SCHEDULER_JOBS (scheduler_proc/loader.py): every failure names the setting, the value, what
went wrong and the fix. The suite's job modules (tests/jobsets) are imported in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import JOBSETS

from scheduler_proc import Jobs
from scheduler_proc.errors import JobsModuleError
from scheduler_proc.loader import load_jobs


@pytest.fixture(autouse=True)
def _jobsets_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(JOBSETS))
    yield


def test_a_good_reference_gives_the_jobs_object() -> None:
    jobs = load_jobs("ticker:jobs")
    assert isinstance(jobs, Jobs) and "tick" in [spec.id for spec in jobs]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_such_module:jobs", r"SCHEDULER_JOBS='no_such_module:jobs': module 'no_such_module' not found; check"),
        ("ticker:nothing", r"module 'ticker' has no attribute 'nothing'; define `nothing = Jobs\(\)` there"),
        ("ticker:VERSION", r"'VERSION' is a int, not a scheduler_proc.Jobs"),
        ("raises_on_import:jobs", r"importing the module raised .* at .*raises_on_import.py:\d+; fix the module"),
        ("bad_cron:jobs", r"SCHEDULER_JOBS='bad_cron:jobs': .*crontab"),
    ],
)
def test_every_failure_names_the_setting_and_the_fix(ref: str, message: str) -> None:
    with pytest.raises(JobsModuleError, match=message):
        load_jobs(ref)
