"""The status page in Chromium with thousands of jobs: first render, refreshes, requests per refresh.

The page marks each refresh with the User Timing API (``scheduler-refresh``: from its
request to the rows on and near the screen written). An init script adds, per refresh, the
time until the next frame was painted (style, layout and paint included), how long the request
took (Resource Timing) and how many rows the table had; and, for the first answer, when the
page had filled every row (``scheduler-rows-filled``: the rows off screen are filled by
background tasks after the refresh).

Live loads time the page against the server as it is: the first render, and refreshes that
find the rows unchanged. One more load answers the page's requests with two documents
taken from the server, in turn, the second as if every job had just run: every row changes
at each refresh (the request, served by Playwright, is left out of those times).
"""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

import httpx
from support import launch_chromium, record_fetches, wait_for

#: Runs in the page before its own script; Playwright injects it, so the page's CSP does not apply.
#: It wraps performance.measure to time, from the moment a refresh ends, the next frame, and
#: notes the frame that painted the first job rows (the page fills the rows on and near the
#: screen in the refresh, then the rest a few groups per background task).
_OBSERVE = r"""
window.benchRefreshes = [];
const measure = performance.measure.bind(performance);
performance.measure = (name, ...rest) => {
  const entry = measure(name, ...rest);
  if (name !== "scheduler-refresh") return entry;
  const rows = document.querySelectorAll("#jobs tbody tr").length;
  const jobs = Number((/jobs: (\d+)/.exec(document.getElementById("summary").textContent) || [0, 0])[1]);
  const request = performance.getEntriesByType("resource")
    .filter((r) => r.name.endsWith("/overview") && r.startTime >= entry.startTime).pop();
  requestAnimationFrame(() => setTimeout(() => window.benchRefreshes.push({
    start: entry.startTime, script: entry.duration, painted: performance.now(), rows, jobs,
    request: request ? request.responseEnd - request.startTime : 0,
  })));
  return entry;
};
// The page fills the rows off screen in background tasks after a refresh, and marks when every
// row of the first answer is filled.
window.benchRowsFilled = null;
const mark = performance.mark.bind(performance);
performance.mark = (name, ...rest) => {
  const entry = mark(name, ...rest);
  if (name === "scheduler-rows-filled" && window.benchRowsFilled === null) window.benchRowsFilled = entry.startTime;
  return entry;
};
new MutationObserver((changes, observer) => {
  if (!document.querySelector("#jobs tbody tr")) return;
  observer.disconnect();
  // The frame that paints the first rows starts with this callback. A timer after it would
  // wait behind the page's scheduler.yield continuations, which outrank timers, until the
  // whole table is built.
  requestAnimationFrame(() => { window.benchFirstRows = performance.now(); });
}).observe(document, { childList: true, subtree: true });
"""


def page_timings(url: str, count: int, loads: int = 3, refreshes: int = 4, attempts: int = 8) -> dict[str, Any]:
    """Time the page at ``url`` (the router's root), whose server has ``count`` jobs.

    Loads until ``loads`` of them had the jobs in their first answer, at most ``attempts``:
    a status file older than readers accept is answered without jobs (``answers_without_jobs``).
    """
    from playwright.sync_api import sync_playwright

    answer = wait_for(lambda: _with_jobs(httpx.get(url + "overview", timeout=30).json()), 60, "the jobs")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            live: list[dict[str, Any]] = []
            while len(live) < attempts and len([x for x in live if x["seen"][0]["jobs"] == count]) < loads:
                live.append(_load(browser, url, refreshes))
            changing = _load(browser, url, refreshes, answers=[answer, _after_a_run(answer)])
        finally:
            browser.close()
    return _summary(live, changing, count)


def _with_jobs(answer: dict[str, Any]) -> dict[str, Any] | None:
    return answer if answer["jobs"] else None


def _after_a_run(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` as if every job had just run: its next run is its last, with success."""
    jobs = [
        {
            **job,
            "last_run_at": job["next_run_at"],
            "last_outcome": "success",
            "next_run_at": (job["next_fires"][1:] or [None])[0],
            "next_fires": job["next_fires"][1:],
        }
        for job in answer["jobs"]
    ]
    return {**answer, "jobs": jobs}


def _load(browser: Any, url: str, refreshes: int, answers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One page load and ``refreshes`` refreshes after the first; the overview from ``answers`` in turn, if given."""
    page = browser.new_page()
    page.add_init_script(_OBSERVE)
    fetches = record_fetches(page)
    if answers:
        bodies, served = [json.dumps(answer) for answer in answers], itertools.count()
        page.route(
            url + "overview",
            lambda route: route.fulfill(body=bodies[next(served) % len(bodies)], content_type="application/json"),
        )
    page.goto(url, wait_until="commit")
    wait_for(lambda: len(_seen(page)) > refreshes, 2.5 * refreshes + 60, f"{refreshes} refreshes", interval=0.5)
    # Read in this order, a refresh that starts in between counts as started but not requested.
    seen = _seen(page)
    started = page.evaluate("performance.getEntriesByName('scheduler-refresh-start').length")
    first_rows = page.evaluate("window.benchFirstRows")
    rows_filled = page.evaluate("window.benchRowsFilled")
    load = {
        "seen": seen[: refreshes + 1],
        "fetches": list(fetches),
        "started": started,
        "first_rows": first_rows,
        "rows_filled": rows_filled,
    }
    page.close()
    return load


def _seen(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("window.benchRefreshes"))


def _pairs(load: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The refreshes of ``load`` whose previous answer had every job too (its rows were made)."""
    seen = load["seen"]
    return [r for previous, r in itertools.pairwise(seen) if previous["jobs"] == r["jobs"] == count]


def _median(values: list[float]) -> float | str:
    return statistics.median(values) if values else "none"


def _summary(live: list[dict[str, Any]], changing: dict[str, Any], count: int) -> dict[str, Any]:
    fresh = [load for load in live if load["seen"][0]["jobs"] == count]
    firsts = [load["seen"][0] for load in fresh]
    in_place = [r for load in live for r in _pairs(load, count)]
    answers = [r for load in live for r in load["seen"]]
    return {
        "jobs": count,
        "first_rows_painted_ms": _median([load["first_rows"] for load in fresh]),
        "first_render_ms": _median([r["painted"] for r in firsts]),
        "first_render_ms_max": max((r["painted"] for r in firsts), default="none"),
        "rows_in_first_render": _median([r["rows"] for r in firsts]),
        "first_request_ms": _median([r["request"] for r in firsts]),
        "every_row_filled_ms": _median([load["rows_filled"] for load in fresh if load["rows_filled"] is not None]),
        "refresh_ms": _median([r["painted"] - r["start"] for r in in_place]),
        "refresh_ms_max": max((r["painted"] - r["start"] for r in in_place), default="none"),
        "refresh_request_ms": _median([r["request"] for r in in_place]),
        "every_row_changed_refresh_ms_without_request": _median(
            [r["painted"] - r["start"] - r["request"] for r in _pairs(changing, count)]
        ),
        "answers_without_jobs": f"{len([r for r in answers if r['jobs'] == 0])} of {len(answers)}",
        "requests": sum(len(load["fetches"]) for load in live),
        "overview_requests": sum(len([u for u in load["fetches"] if u.endswith("/overview")]) for load in live),
        "refreshes_started": sum(load["started"] for load in live),
        "goal": "first render and a refresh each under 1 s",
    }
