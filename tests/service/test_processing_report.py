"""SECURITY.md promise 16: the records-of-processing report, built from the live deployment."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.service import Warden
from facewarden.service.processing_report import to_markdown

from ._data import KNN

SECRET_URL = "rtsp://viewer:s3cret-pass@10.1.2.3:554/stream1"


def test_the_report_describes_the_live_configuration_and_names_no_one(
    warden: Warden, settings: Settings, enroll: Callable[..., object]
) -> None:
    warden.watchlists.create(
        "entrance", purpose="site access control", lawful_basis="GDPR art. 6(1)(f)"
    )
    enroll(warden, "Barack Obama", sorted((KNN / "train" / "obama").iterdir())[:1], ["entrance"])
    warden.cameras.add(
        "north door", location="north entrance", watchlists=["entrance"], retention_hours=6,
        source=SECRET_URL,
    )  # fmt: skip
    warden.cameras.add("prayer room", location="level 2", sensitive=True)
    warden.access.create_user("dora", "a long enough passphrase", "auditor")
    warden.watchlists.create("staff", purpose="rota | shifts  and breaks", lawful_basis="contract")

    report = warden.processing_report()

    purpose, staff = sorted(report["purposes"], key=lambda p: p["watchlist"])
    assert staff["purpose"] == "rota | shifts  and breaks"  # as declared, in the data
    assert (purpose["watchlist"], purpose["purpose"], purpose["lawful_basis"]) == (
        "entrance",
        "site access control",
        "GDPR art. 6(1)(f)",
    )
    assert purpose["subjects"] == 1 and report["subjects"] == 1
    cameras = {c["camera"]: c for c in report["cameras"]}
    assert cameras["north door"]["identifies"] is True
    assert cameras["north door"]["sighting_retention_hours"] == {"entrance": 6}
    assert cameras["prayer room"]["identifies"] is False and cameras["prayer room"]["sensitive"]
    assert report["retention"]["sightings"].startswith("24 hours")
    assert report["retention"]["crowd_counts"] == "365 days"
    assert report["retention"]["purge"].startswith("as facewarden serve or worker starts")
    assert report["access"]["users_by_role"]["auditor"] == 1
    assert report["store"] == "SQLite"
    text = json.dumps(report) + to_markdown(report)
    for secret in ("Obama", "s3cret", "viewer", "10.1.2.3", "dora", str(settings.key_dir)):
        assert secret not in text, secret
    markdown = to_markdown(report)
    assert markdown.startswith("# Records of processing")
    assert "| entrance | site access control | GDPR art. 6(1)(f) | 1 |" in markdown
    assert "| prayer room | level 2 | no: sensitive |" in markdown
    # A declared text cannot break the table: its | is escaped.
    assert "| staff | rota \\| shifts and breaks | contract | 0 |" in markdown
    assert "report.processing" in [e.action for e in warden.audit.entries(limit=100)]


def test_the_cli_prints_the_report(tmp_path: Path) -> None:
    env = {
        "FACEWARDEN_DATA_DIR": str(tmp_path / "data"),
        "FACEWARDEN_KEY_DIR": str(tmp_path / "keys"),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    shown = runner.invoke(cli, ["processing-report"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# Records of processing")
    as_json = runner.invoke(cli, ["processing-report", "--json"], env=env)
    assert as_json.exit_code == 0 and json.loads(as_json.output)["subjects"] == 0


def test_the_report_names_every_category_of_personal_data_the_store_holds(warden: Warden) -> None:
    """Art. 30(1)(c): the desk's decisions and notes about a person's alerts, and the
    requests for a person's location history (with their case and reason), are held too."""
    report = warden.processing_report()
    categories = {c["category"]: c for c in report["categories"]}
    desk = categories["alert decisions and notes"]
    assert "note" in desk["data"] and "subject's data key" in desk["protection"]
    requests = categories["location-history requests"]
    assert "case reference" in requests["data"] and "31 days" in requests["protection"]
    assert "- **alert decisions and notes** (" in to_markdown(report)


def test_the_report_names_what_the_key_directory_keeps_about_people(warden: Warden) -> None:
    """Art. 30(1)(c): outside the store, the key directory keeps records about people
    (who was erased, restricted or corrected, faces removed, erased people's import
    sources), so that a restore cannot undo them; the report left them out."""
    report = warden.processing_report()
    categories = {c["category"]: c for c in report["categories"]}
    ledgers = categories["key-directory ledgers"]
    for held in ("erased", "restrict", "correct", "face", "import source"):
        assert held in ledgers["data"], held
    assert "subject's data key" in ledgers["protection"]
    assert "- **key-directory ledgers** (" in to_markdown(report)


def test_declared_text_is_shown_as_typed_never_as_markup(warden: Warden) -> None:
    """The attack: an operator's watchlist purpose and camera place are typed text, and the
    data-protection officer opens the Markdown report in a viewer that renders it.
    Written into the document as they were, they became markup there: raw HTML, an
    image fetched from another site when the document opens, a link to anywhere."""
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the report")
    purpose = "<img src=x onerror=alert(1)> ![seen](https://evil.example/pixel.png)"
    basis = "[the DPIA](https://evil.example/login) *art. 6(1)(f)* `x` & ~~y~~ \\"
    warden.watchlists.create("<b>gate</b>", purpose=purpose, lawful_basis=basis)
    warden.cameras.add("<script>alert(2)</script>", location="<iframe src=//evil.example>")

    markdown = to_markdown(warden.processing_report())
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)

    for tag in ("<img", "<script", "<iframe", "<a ", "<b>", "<em>", "<code>", "<s>", "<del>"):
        assert tag not in html, tag
    assert "evil.example" in html  # still there, as the text it is
    # What was typed is what the officer reads, in the table's cells.
    cells = re.findall(r"<td>(.*?)</td>", html)
    for typed in (purpose, basis, "<b>gate</b>", "<script>alert(2)</script>"):
        assert typed in [htmllib.unescape(cell) for cell in cells], typed
