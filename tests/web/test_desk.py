"""The security desk in a real browser against the real server (issue 14).

An investigator opens a subject through the case-reference dialog, and the
case is carried to every read of the subject and to the history request
made from its page.
"""

from __future__ import annotations

import pytest

from .conftest import Console
from .conftest_cameras import CameraServer

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CASE = "CASE-2026-0142"


def test_an_investigator_opens_a_subject_through_the_case_dialog(
    cam_console: Console, camera_server: CameraServer
) -> None:
    console = cam_console
    page = console.page
    console.login(*camera_server.users["investigator"])
    console.open(f"subjects/{camera_server.subject_id}")
    dialog = page.locator("dialog.modal")
    dialog.wait_for()
    assert dialog.get_by_role("button", name="Open subject").is_disabled()
    console.shot("30-case-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    needed = page.get_by_test_id("case-needed")
    needed.wait_for()
    assert "Obama" not in page.locator("main").inner_text()

    needed.get_by_role("button", name="Give a case reference").click()
    dialog.locator("input[name=case_reference]").fill(CASE)
    dialog.get_by_role("button", name="Open subject").click()
    page.locator(".subject-name").wait_for()
    assert page.locator(".subject-name").inner_text() == "Barack Obama"
    assert page.get_by_test_id("case-reference").inner_text() == CASE
    reads = [u for u in console.urls if f"/v1/subjects/{camera_server.subject_id}?" in u]
    assert reads and all("purpose=CASE-2026-0142" in u for u in reads)
    console.shot("31-subject-for-a-case")

    # The case is carried: the history request from the subject's page uses it.
    history = page.locator(".card-history")
    history.get_by_role("button", name="Request location history").click()
    page.get_by_test_id("history-pending").wait_for()
    assert CASE in history.inner_text()

    # Opening the subject again in this tab asks no more; from the dashboard, the
    # case is given beside the id.
    console.open("")
    page.locator(".page-dashboard").wait_for()
    opener = page.locator("form.form-grid-open")
    assert opener.locator("input[name=case_reference]").input_value() == CASE
    opener.locator("input[name=subject_id]").fill(camera_server.subject_id)
    opener.get_by_role("button", name="Open").click()
    page.locator(".subject-name").wait_for()
    assert page.locator("dialog.modal").count() == 0
    assert console.problems == []
