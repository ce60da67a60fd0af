"""The approval form in a real browser: Playwright drives Debian's chromium against the test's
real Prefect server and its UI. It opens the paused cycle-loop run, sees the proposal in the
Resume form (pre-filled with it), submits another intervention, and sees the run resume with it."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.loop_helpers import loop_params, start_loop, wait_for

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")


def _paused_run(results_dir: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for fr in client.read_flow_runs():
            if fr.parameters.get("results_dir") == results_dir and fr.state and fr.state.is_paused():
                return fr
    return None


def test_resume_form_shows_the_proposal_and_submits_an_override(prefect_api, tiny_data_dir, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run installs it)")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    params = loop_params(tmp_path, tiny_data_dir, auto_approve=False, first_intervention=None, max_cycles=1)
    proc = start_loop(params, prefect_api.env, tmp_path / "loop.log")
    page = None
    try:
        fr = wait_for(lambda: _paused_run(params["results_dir"]), 300, "the approval pause")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                run_page = f"{prefect_api.api_url.removesuffix('/api')}/runs/flow-run/{fr.id}"
                page.goto(run_page)
                page.get_by_role("button", name="Resume").first.click(timeout=60_000)
                form = page.locator(".p-modal")
                # The proposal, as the form's description.
                expect(form).to_contain_text("Cycle 1 proposes", timeout=30_000)
                proposed = form.locator("button.p-select-button__control").nth(1).inner_text().strip()
                assert proposed and proposed != "None"
                for text in (f"Cycle 1 proposes {proposed}", "expected effect", "why",
                             "4 training runs", "DAG picture"):
                    expect(form).to_contain_text(text)
                expect(form.locator("input").first).to_have_value("1")      # seeds pre-filled: 1, 2
                # Override the intervention, then Submit.
                override = "ema" if proposed != "ema" else "grad_clip"
                select = form.locator("button.p-select-button__control", has_text=proposed)
                select.click()
                select.press("ArrowDown")          # the select's option list opens from the keyboard
                page.get_by_role("option", name=override, exact=True).click()
                expect(form.locator("button.p-select-button__control", has_text=override)).to_be_visible()
                form.get_by_role("button", name="Submit").click()
                expect(form).to_be_hidden(timeout=30_000)
                # The run resumes with the override: it says so in its log, in the UI.
                assert proc.wait(300) == 0, (tmp_path / "loop.log").read_text()[-3000:]
                page.goto(run_page)
                expect(page.get_by_text(f"cycle 1: testing {override}").first).to_be_visible(timeout=60_000)
                expect(page.get_by_text("Completed").first).to_be_visible(timeout=60_000)
            except BaseException:
                if page is not None:
                    page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                    (tmp_path / "failure.html").write_text(page.content())
                raise
            finally:
                browser.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    plan = json.loads((tmp_path / "results" / "cycle_1" / "plan.json").read_text())
    assert plan["intervention"] == override and plan["approved_by"] == "ui" and plan["source"] == "approver"
    report = json.loads((tmp_path / "results" / "final_report.json").read_text())
    assert [e["intervention"] for e in report["experiments"]] == [override]
