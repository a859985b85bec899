"""The status page, in Debian's headless Chromium driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from support import read_fires, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "page-admin-token-0123456789"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)


def test_page_shows_jobs_and_last_run_and_its_run_button_works(hosts, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    host = hosts(jobs="reports:jobs", env={"SCHEDULER_ADMIN_TOKEN": TOKEN}).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a tick")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
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
