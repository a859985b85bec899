"""The status page, in Debian's headless Chromium driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support import CHROMIUM, HostFactory, launch_chromium, read_fires, record_fetches, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage

TOKEN = "page-admin-token-0123456789"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)

#: Every job row as [data-job, cell texts..., the next-run cell's title].
ROWS_JS = """() => Array.from(document.querySelectorAll("#jobs tbody tr"),
                              (row) => [row.dataset.job, ...Array.from(row.cells, (c) => c.textContent),
                                        row.cells[2].title])"""
#: Does the table have all ``count`` rows, and does job ``ran`` show a successful run?
SHOWS_JS = """([count, ran]) => document.querySelectorAll("#jobs tbody tr").length === count
                 && document.querySelector(`#jobs tr[data-job="${ran}"] td:nth-child(5)`).textContent === 'success'"""


def test_page_shows_jobs_and_last_run_and_its_run_button_works(hosts: HostFactory, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    host = hosts(jobs="reports:jobs", env={"SCHEDULER_ADMIN_TOKEN": TOKEN}).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a tick")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{host.port}/scheduler/")
            tick = page.locator('#jobs tr[data-job="tick"]')
            expect(tick).to_contain_text("every 1s", timeout=10_000)
            expect(tick.locator("td").nth(4)).to_have_text("success", timeout=10_000)
            expect(page.locator("#summary")).to_contain_text("role: leader")
            expect(tick.locator("td").nth(2)).to_have_attribute("title", re.compile(r"^next fires: .+, .+, .+$"))
            expect(page.locator("#history tbody tr").first).to_contain_text("tick", timeout=10_000)
            page.screenshot(path=str(tmp_path / "status-page.png"))

            report = page.locator('#jobs tr[data-job="report"]')
            report.locator('button[data-action="run"]').click()
            expect(page.locator("#message")).to_have_text("enter the admin token first")
            page.fill("#token", TOKEN)
            report.locator('button[data-action="run"]').click()
            expect(page.locator("#message")).to_contain_text("run report: ran (run ", timeout=10_000)
        finally:
            browser.close()
    wait_for(lambda: [f for f in read_fires(host.fire_log) if f["job"] == "report"], 10, "the report to run")
    assert len([f for f in read_fires(host.fire_log) if f["job"] == "report"]) == 1


def test_ten_thousand_jobs_one_request_per_refresh_every_row_shown(hosts: HostFactory) -> None:
    """Each refresh is one GET of the overview whatever the number of jobs; all rows show; a job's runs on demand.

    The page's clock is Playwright's: timers fire only when the test moves it, so each move of
    2 s is exactly one refresh cycle, and the requests of a cycle are all sent once it ends.
    With 10,000 jobs on a busy machine the runner may publish its status less often than
    readers accept (5 s), so some answers say "stopped": the test waits for a fresh one.
    """
    from playwright.sync_api import expect, sync_playwright

    count, ran = 10_000, "bench-4242"
    env = {
        "BENCH_JOBS": str(count),
        "BENCH_INTERVAL": "3600",
        "SCHEDULER_START_TIMEOUT": "120",
        "SCHEDULER_ADMIN_TOKEN": TOKEN,
    }
    host = hosts(jobs="bench_jobs:jobs", env=env).start_and_wait(timeout=120)
    base = f"http://127.0.0.1:{host.port}/scheduler/"
    wait_for(lambda: _post(base + f"jobs/{ran}/run").status_code == 200, 60, f"a run of {ran}")
    # Rewriting 10,000 jobs' status costs the runner a quarter of a second, so it is done less
    # often than every second; the scheduler must never look stopped meanwhile.
    roles = []
    for _ in range(16):  # an answer every half second, for 8 s
        sample_at = time.monotonic() + 0.5
        answer = httpx.get(base + "status", timeout=10).json()
        roles.append((answer["role"], len(answer["jobs"])))
        wait_for(partial(_is_past, sample_at), 5, "the next sample time")
    assert set(roles) == {("leader", count)}, roles
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context()
            context.clock.install()
            context.clock.pause_at(datetime.now() + timedelta(seconds=1))
            page = context.new_page()
            fetches = record_fetches(page)
            refused: list[str] = []  # what the page's CSP blocked (its hashes must match the script and style)

            def note_refused(message: ConsoleMessage) -> None:
                if "Content Security Policy" in message.text:
                    refused.append(message.text)

            page.on("console", note_refused)
            page.goto(base)
            expect(page.locator("#refreshed")).to_contain_text("refreshed at", timeout=60_000)
            assert fetches == [base + "overview"]
            # Rows far below the screen are built in the background or when scrolled to.
            # Scrolled again while waiting: on a loaded machine the groups' heights may still be
            # settling at the first scroll, which then lands above the last group.
            last_row_shown = f"""() => {{
                window.scrollTo(0, document.body.scrollHeight);
                const row = document.querySelector('#jobs tr[data-job="bench-{count - 1}"]');
                if (!row) return false;
                const box = row.getBoundingClientRect();
                return box.bottom > 0 && box.top < window.innerHeight;
            }}"""
            wait_for(lambda: page.evaluate(last_row_shown), 30, "the last row on screen after scrolling to the bottom")
            page.evaluate("window.scrollTo(0, 0)")

            def refresh_once() -> None:
                before, shown = len(fetches), page.locator("#refreshed").text_content() or ""
                page.clock.run_for(2000)
                expect(page.locator("#refreshed")).not_to_have_text(shown, timeout=30_000)
                assert fetches[before:] == [base + "overview"]

            def shows_every_job_and_the_run() -> bool:
                refresh_once()
                return bool(page.evaluate(SHOWS_JS, [count, ran]))

            for _ in range(3):
                refresh_once()
            wait_for(shows_every_job_and_the_run, 90, f"a refresh with {count} rows and the run of {ran}")
            rows = page.evaluate(ROWS_JS)
            assert [row[0] for row in rows] == [f"bench-{i}" for i in range(count)]
            for job_id, shown_id, trigger, next_run, last_run, outcome, actions, next_title in rows:
                assert shown_id == job_id and trigger == "every 1h" and actions == "RunPause", job_id
                assert re.fullmatch(re.escape(f"next fires: {next_run}, ") + r".+, .+", next_title), job_id
                assert (last_run != "—", outcome) == ((True, "success") if job_id == ran else (False, "—")), job_id
            [recent] = page.locator("#history tbody tr").all_text_contents()
            assert recent.startswith(ran) and "manual" in recent and "success" in recent, recent

            def opens_the_runs() -> bool:
                if page.locator("#detail").is_visible():
                    page.locator("#detail-close").click()
                before, detail = len(fetches), base + f"jobs/{ran}?limit=20"
                with page.expect_response(lambda response: response.url == detail):
                    page.locator(f'#jobs tr[data-job="{ran}"] a').click()
                expect(page.locator("#detail-message")).not_to_have_text("loading…")
                assert fetches[before:] == [detail]
                return "success" in (page.locator("#detail-runs tbody").text_content() or "")

            wait_for(opens_the_runs, 60, f"the runs of {ran} on demand")
            expect(page.locator("#detail-title")).to_have_text(f"Runs of {ran}")
            expect(page.locator("#detail-runs tbody tr")).to_have_count(1)
            page.locator("#detail-close").click()
            expect(page.locator("#detail")).to_be_hidden()
            assert refused == []
        finally:
            browser.close()


def _is_past(moment: float) -> bool:
    return time.monotonic() >= moment


def _post(url: str) -> httpx.Response:
    return httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


#: The job rows in order as [id, trigger, next-run text, the Pause/Resume button's label].
TABLE_JS = """() => Array.from(document.querySelectorAll("#jobs tbody tr"),
                                (row) => [row.dataset.job, row.cells[1].textContent, row.cells[2].textContent,
                                          row.cells[5].lastChild.textContent])"""


#: The job ids that have more than one row.
_DOUBLED = """() => {
  const seen = new Set(), doubled = [];
  for (const row of document.querySelectorAll("#jobs tbody tr")) {
    if (seen.has(row.dataset.job)) doubled.push(row.dataset.job);
    seen.add(row.dataset.job);
  }
  return doubled;
}"""
#: Runs the page's own refresh; then the job ids that have more than one row.
DOUBLED_AFTER_REFRESH_JS = f"async () => {{ await cycle(); return ({_DOUBLED})(); }}"
#: Shows the answers' job lists in one task (no background fill in between), as refreshes do that
#: come faster than the fill; then the job ids that have more than one row.
DOUBLED_AFTER_RENDERS_JS = f"(answers) => {{ for (const jobs of answers) renderJobs(jobs); return ({_DOUBLED})(); }}"


def _jobs(ids: list[str], paused: frozenset[str] = frozenset()) -> list[dict[str, object]]:
    at = "2030-01-01T00:00:00+00:00"
    return [
        {
            "id": job_id,
            "trigger": f"trigger of {job_id}",
            "paused": job_id in paused,
            "next_run_at": at,
            "next_fires": [at],
            "last_run_at": None,
            "last_outcome": None,
        }
        for job_id in ids
    ]


def test_rows_follow_answers_that_add_drop_and_reorder_jobs(hosts: HostFactory) -> None:
    """Rows off screen are filled after the refresh; whatever the answers did meanwhile, the table ends as the last one.

    The page is the real one from a real server; its overview answers are the test's (routed
    by Playwright), and each refresh is a call of the page's own ``cycle()`` with its clock
    stopped, so no refresh comes in between. Two answers faster than the fill are shown by
    calling the page's ``renderJobs`` twice in one task.
    """
    from playwright.sync_api import sync_playwright

    host = hosts(jobs="reports:jobs").start_and_wait()
    base = f"http://127.0.0.1:{host.port}/scheduler/"
    ids = [f"job-{i}" for i in range(5050)]  # 51 groups, the last one half full: filling takes a while
    answer: list[list[dict[str, object]]] = [_jobs(ids)]  # the jobs the next overview request gets

    def serve(route: Any) -> None:
        document = {"node": "n", "role": "leader", "mode": "single-host", "cluster": {}, "recent_runs": []}
        route.fulfill(json={**document, "jobs": answer[0]})

    def refresh(jobs: list[dict[str, object]]) -> None:
        """One refresh that gets ``jobs``; no job may have two rows right after it."""
        answer[:] = [jobs]
        assert page.evaluate(DOUBLED_AFTER_REFRESH_JS) == []

    def table_is(expected: list[dict[str, object]]) -> bool:
        want = [
            [j["id"], j["trigger"], "paused" if j["paused"] else page_time, "Resume" if j["paused"] else "Pause"]
            for j in expected
        ]
        return bool(page.evaluate(TABLE_JS) == want)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            context.clock.install()
            context.clock.pause_at(datetime.now() + timedelta(seconds=1))
            page = context.new_page()
            page.route(base + "overview", serve)
            page.goto(base)
            expect_rows = _jobs(ids)
            wait_for(
                lambda: page.evaluate("document.querySelectorAll('#jobs tbody tr').length") == len(ids),
                30,
                "every row filled",
            )
            page_time = page.evaluate("document.querySelector('#jobs tbody tr').cells[2].textContent")
            assert table_is(expect_rows)

            # The last job is dropped, then is back first in the next answer before its old group was filled.
            last, rest = ids[-1], ids[:-1]
            assert page.evaluate(DOUBLED_AFTER_RENDERS_JS, [_jobs(rest), _jobs([last, *rest])]) == []
            expect_rows = _jobs([last, *rest])
            wait_for(lambda: table_is(expect_rows), 30, "the table to follow the answer")

            # Reordered, some paused far below the screen, some gone, some new.
            shuffled = [*reversed(ids[500:]), *(f"new-{i}" for i in range(70)), *ids[:400]]
            expect_rows = _jobs(shuffled, paused=frozenset({"job-7", "job-4000", "new-3"}))
            refresh(expect_rows)
            wait_for(lambda: table_is(expect_rows), 30, "the reordered table")

            # Scrolled to the bottom, the table shrinks to 150 jobs and grows back.
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            refresh(_jobs(ids[:150]))
            wait_for(lambda: table_is(_jobs(ids[:150])), 30, "the shrunk table")
            page.evaluate("window.scrollTo(0, 0)")
            refresh(_jobs(ids))
            wait_for(lambda: table_is(_jobs(ids)), 30, "the table grown back")

            # The page is as tall before the last, half-full group was drawn as after.
            height = page.evaluate("document.body.scrollHeight")
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            wait_for(
                lambda: page.evaluate(
                    f"(() => {{ const r = document.querySelector('tr[data-job=\"{ids[-1]}\"]')"
                    ".getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })()"
                ),
                10,
                "the last row on screen",
            )
            assert abs(page.evaluate("document.body.scrollHeight") - height) < 5
        finally:
            browser.close()


def test_the_page_lists_what_turns_health_red(hosts: HostFactory) -> None:
    """A corrupt ledger (a real file, a real runner): readyz is 503 and the page says why, with
    the fix, at the top (it showed a leader and green-looking rows); the list goes once healthy."""
    from playwright.sync_api import expect, sync_playwright

    host = hosts(jobs="reports:jobs")
    ledger = host.dir / "state" / "scheduler.sqlite3"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_bytes(b"this is not an SQLite database, " * 200)
    host.start()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{host.port}/scheduler/")
            problems = page.locator("#problems")
            expect(problems).to_contain_text("the ledger is corrupt", timeout=20_000)
            expect(problems).to_contain_text("move it aside")
            ledger.rename(ledger.with_name("scheduler.sqlite3.corrupt"))
            expect(problems).to_be_hidden(timeout=20_000)
        finally:
            browser.close()
