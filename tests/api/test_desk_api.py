"""The security desk over HTTP (issue 14): an alert's lifecycle and location-history requests.

A real photo pushed to a camera that keeps face crops raises an alert; the
operator opens it (the subject's name, the captured face and the enrolled
photo, never cached), acknowledges it with a note, and the audit log holds
each step. A watchlist's severity filters the list, and each alert keeps the
severity it was raised with when the watchlist's changes; alerts before the live
window are gone from every route. Location-history requests: the
requester's list and the approvers' pending list, refusal and approval.
Free text (the note, the reason) never reaches the database in clear.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from facewarden.api.schemas_export import ExportOut

from ._live import FAST, LiveServer, serving

NAME = "Barack Obama"
NOTE = "Guard Mirela checked the badge at gate 4"
REASON = "Tailgating incident at the loading dock, ticket 7781"
CASE = "CASE-2026-0511"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("desk")
    with serving(root, history_approval=True, keep_enrollment_photos=True, **FAST) as running:
        yield running


@pytest.fixture(scope="module")
def site(live: LiveServer, photos: dict[str, Path]) -> dict[str, str]:
    """Obama enrolled (photo kept) on ``barred``; camera ``door`` keeps face crops."""
    with live.client("operator") as operator:
        operator.post(
            "/v1/watchlists",
            json={"name": "barred", "purpose": "site bans", "lawful_basis": "art. 6(1)(f)"},
        ).raise_for_status()
        created = operator.post(
            "/v1/subjects",
            data={
                "record": json.dumps({"full_name": NAME, "lawful_basis": "ban letter 12"}),
                "watchlist": "barred",
            },
            files=[("file", ("obama.jpg", photos["obama"].read_bytes(), "image/jpeg"))],
        )
        created.raise_for_status()
        door = operator.post(
            "/v1/cameras",
            json={
                "name": "door",
                "location": "north door",
                "watchlists": ["barred"],
                "keep_thumbnails": True,
            },
        )
        door.raise_for_status()
        pushed = operator.post(
            "/v1/cameras/door/frames",
            files={"image": ("frame.jpg", photos["obama2"].read_bytes(), "image/jpeg")},
        )
        pushed.raise_for_status()
        (sighting,) = pushed.json()["new_sightings"]
    return {
        "subject": created.json()["subject_id"],
        "door": door.json()["camera_id"],
        "sighting": sighting,
    }


def _jpeg(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and max(image.shape[:2]) <= 320
    return image


def _db_bytes(live: LiveServer) -> bytes:
    live.warden.store.checkpoint()
    path = Path(live.warden.store.location)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _actions(live: LiveServer) -> list[tuple[str, str, str | None, str]]:
    entries: list[Any] = []
    after = 0
    while True:
        page = live.warden.audit.entries(after_seq=after, limit=100)
        if not page:
            return [(e.actor, e.action, e.object_id, e.outcome) for e in entries]
        entries.extend(page)
        after = page[-1].seq


def test_an_alert_is_reviewed_with_both_photos_and_acknowledged(
    live: LiveServer, site: dict[str, str]
) -> None:
    sighting = site["sighting"]
    with live.client("operator") as operator:
        listed = operator.get("/v1/alerts", params={"state": "open"}).json()["sightings"]
        (alert,) = [a for a in listed if a["sighting_id"] == sighting]
        assert (alert["severity"], alert["decision"]) == ("alert", None)
        assert NAME not in json.dumps(listed)  # the list is ids only

        review = operator.get(f"/v1/alerts/{sighting}")
        assert review.status_code == 200, review.text
        assert review.headers["cache-control"] == "no-store"
        body = review.json()
        assert body["full_name"] == NAME
        assert (body["camera_name"], body["watchlist_name"]) == ("door", "barred")
        assert body["photos"] == ["captured", "enrolled"]
        captured = _jpeg(operator.get(f"/v1/alerts/{sighting}/photos/captured"))
        enrolled = _jpeg(operator.get(f"/v1/alerts/{sighting}/photos/enrolled"))
        assert captured.shape != enrolled.shape  # a face crop, and the enrollment photo
        assert operator.get(f"/v1/alerts/{sighting}/photos/other").status_code == 422

        done = operator.post(f"/v1/alerts/{sighting}/acknowledge", json={"note": NOTE})
        assert done.status_code == 200, done.text
        assert done.json()["decision"] == "acknowledged"
        assert done.json()["decided_by"] and done.json()["decided_at"]
        again = operator.post(f"/v1/alerts/{sighting}/dismiss", json={})
        assert again.status_code == 409 and again.json()["error"]["type"] == "ConflictError"
        assert operator.get(f"/v1/alerts/{sighting}").json()["note"] == NOTE
        still_open = operator.get("/v1/alerts", params={"state": "open"}).json()["sightings"]
        assert sighting not in {a["sighting_id"] for a in still_open}
        decided = operator.get("/v1/alerts", params={"state": "decided"}).json()["sightings"]
        assert sighting in {a["sighting_id"] for a in decided}
        # Every desk learns of the decision with its next poll (ids and decision only).
        at = done.json()["decided_at"]
        news = operator.get("/v1/alerts", params={"decided_since": at}).json()["decided"]
        assert {"sighting_id": sighting, "decision": "acknowledged"}.items() <= news[0].items()
        later = (datetime.fromisoformat(at) + timedelta(seconds=1)).isoformat()
        assert operator.get("/v1/alerts", params={"decided_since": later}).json()["decided"] == []
        assert operator.get("/v1/alerts").json()["decided"] == []

    actions = [(a, o) for _, a, o, _ in _actions(live)]
    for action in ("alert.show", "alert.photo", "alert.acknowledge"):
        assert (action, sighting) in actions, action
    assert actions.count(("alert.photo", sighting)) == 2
    assert NOTE.encode() not in _db_bytes(live)  # the note is sealed


def test_severity_per_watchlist_filters_the_list_and_an_alert_keeps_its_own(
    live: LiveServer, site: dict[str, str]
) -> None:
    camera = live.warden.store.get_camera(site["door"])
    assert camera is not None

    def alarms(operator: httpx.Client) -> set[str]:
        found = operator.get("/v1/alerts", params={"severity": "alarm", "camera": "door"})
        return {a["sighting_id"] for a in found.json()["sightings"]}

    with live.client("operator") as operator:
        bad = operator.put("/v1/watchlists/barred/alert-severity", json={"severity": "loud"})
        assert bad.status_code == 422
        set_ = operator.put("/v1/watchlists/barred/alert-severity", json={"severity": "alarm"})
        assert set_.status_code == 200, set_.text
        # The alert raised before the change was an "alert", and stays one.
        assert site["sighting"] not in alarms(operator)
        # One raised now is an alarm, and stays one when the watchlist goes quiet later.
        seen = datetime.now(UTC) - timedelta(minutes=30)
        raised = live.warden.sightings.open_visit(
            camera, site["subject"], camera.watchlists[0], seen, seen + timedelta(seconds=5), 0.9
        )
        assert raised in alarms(operator)
        quieter = operator.put("/v1/watchlists/barred/alert-severity", json={"severity": "log"})
        assert quieter.status_code == 200, quieter.text
        assert raised in alarms(operator)
        assert operator.get(f"/v1/alerts/{raised}").json()["alert"]["severity"] == "alarm"
        assert operator.get("/v1/desk").json()["open_alerts"]["alarm"] >= 1
        quiet = operator.get("/v1/alerts", params={"severity": "log"}).json()["sightings"]
        assert quiet == []
        back = operator.put("/v1/watchlists/barred/alert-severity", json={"severity": "alert"})
        assert back.status_code == 200, back.text
        assert operator.get("/v1/alerts", params={"camera": "nowhere"}).status_code == 404
        desk = operator.get("/v1/desk").json()
        assert desk["window_minutes"] == 60 and desk["sightings_today"] >= 1
        (door,) = [c for c in desk["cameras"] if c["name"] == "door"]
        assert door["state"] == "live" and door["last_frame_at"] is not None
        assert NAME not in json.dumps(desk) and site["subject"] not in json.dumps(desk)
    with live.client("analyst") as analyst:
        assert analyst.get("/v1/desk").status_code == 403
        assert analyst.get(f"/v1/alerts/{site['sighting']}").status_code == 403


def test_an_alert_before_the_live_window_is_gone_from_every_route(
    live: LiveServer, site: dict[str, str]
) -> None:
    warden = live.warden
    camera = warden.store.get_camera(site["door"])
    assert camera is not None
    old = datetime.now(UTC) - timedelta(hours=2)
    stale = warden.sightings.open_visit(
        camera, site["subject"], camera.watchlists[0], old, old + timedelta(seconds=5), 0.9
    )
    with live.client("operator") as operator:
        listed = operator.get(
            "/v1/alerts", params={"since": (old - timedelta(hours=1)).isoformat()}
        )
        assert stale not in {a["sighting_id"] for a in listed.json()["sightings"]}
        for response in (
            operator.get(f"/v1/alerts/{stale}"),
            operator.get(f"/v1/alerts/{stale}/photos/enrolled"),
            operator.post(f"/v1/alerts/{stale}/acknowledge", json={}),
        ):
            assert response.status_code == 404, response.text
            assert "live window" in response.json()["error"]["message"]


def test_history_requests_are_listed_refused_and_approved(
    live: LiveServer, site: dict[str, str]
) -> None:
    url = f"/v1/subjects/{site['subject']}/history"
    with live.client("investigator") as asker, live.client("investigator2") as second:
        first = asker.post(url, json={"hours": 24, "case_reference": CASE, "reason": REASON})
        assert first.status_code == 202, first.text
        refused_id = first.json()["request_id"]
        mine = asker.get("/v1/history-requests", params={"scope": "mine"}).json()["requests"]
        assert [(r["request_id"], r["status"], r["reason"]) for r in mine] == [
            (refused_id, "pending", REASON)
        ]
        # The asker's own request is not theirs to decide.
        assert asker.get("/v1/history-requests", params={"scope": "pending"}).json() == {
            "requests": []
        }
        assert asker.post(f"/v1/history-requests/{refused_id}/refuse").status_code == 403

        pending = second.get("/v1/history-requests", params={"scope": "pending"}).json()
        (waiting,) = pending["requests"]
        assert (waiting["subject_id"], waiting["case_reference"], waiting["hours"]) == (
            site["subject"],
            CASE,
            24,
        )
        assert waiting["reason"] == REASON and waiting["requested_by"] == mine[0]["requested_by"]
        assert NAME not in json.dumps(pending)
        assert second.post(f"/v1/history-requests/{refused_id}/refuse").status_code == 204
        assert second.post(f"/v1/history-requests/{refused_id}/approve").status_code == 403
        assert second.post(f"/v1/history-requests/{refused_id}/refuse").status_code == 403
        ran = asker.post(url, json={"hours": 24, "case_reference": CASE, "request_id": refused_id})
        assert ran.status_code == 403 and "refused" in ran.json()["error"]["message"]

        again = asker.post(url, json={"hours": 12, "case_reference": CASE})
        approved_id = again.json()["request_id"]
        assert second.post(f"/v1/history-requests/{approved_id}/approve").status_code == 204
        states = {
            r["request_id"]: (r["status"], r["decided_by"] is not None)
            for r in asker.get("/v1/history-requests").json()["requests"]
        }
        assert states == {refused_id: ("refused", True), approved_id: ("approved", True)}
        done = asker.post(
            url, json={"hours": 12, "case_reference": CASE, "request_id": approved_id}
        )
        assert done.status_code == 200, done.text
        assert site["sighting"] in {s["sighting_id"] for s in done.json()["sightings"]}
        assert second.get("/v1/history-requests", params={"scope": "pending"}).json() == {
            "requests": []
        }
    with live.client("operator") as operator:
        assert operator.get("/v1/history-requests").status_code == 403
    actions = {a for _, a, o, _ in _actions(live) if o == refused_id}
    assert {"sightings.history_request", "sightings.history_refuse"} <= actions
    assert REASON.encode() not in _db_bytes(live)  # the reason is sealed


def test_an_enrolled_photo_is_shown_for_review_audited_and_never_cached(
    live: LiveServer, site: dict[str, str]
) -> None:
    url = f"/v1/subjects/{site['subject']}/photo"
    with live.client("operator") as operator:
        _jpeg(operator.get(url, params={"purpose": "gate B check"}))
        face = operator.get(f"/v1/subjects/{site['subject']}").json()["faces"][0]["face_id"]
        _jpeg(operator.get(f"/v1/subjects/{site['subject']}/faces/{face}/photo"))
        missing = operator.get(f"/v1/subjects/{site['subject']}/faces/face_nobody/photo")
        assert missing.status_code == 404
    with live.client("investigator") as investigator:
        assert investigator.get(url).status_code == 400  # no case reference
        _jpeg(investigator.get(url, params={"purpose": CASE}))
    with live.client("analyst") as analyst:
        assert analyst.get(url, params={"purpose": CASE}).status_code == 403
    reads = [(a, o) for _, a, o, _ in _actions(live) if a == "subject.photo"]
    assert len(reads) == 3 and all(o == site["subject"] for _, o in reads)


def test_watchlists_are_edited_and_deleted(live: LiveServer, site: dict[str, str]) -> None:
    with live.client("operator") as operator:
        edited = operator.patch("/v1/watchlists/barred", json={"purpose": "site bans (2026)"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["purpose"] == "site bans (2026)"
        assert operator.patch("/v1/watchlists/barred", json={"purpose": ""}).status_code == 422
        busy = operator.delete("/v1/watchlists/barred")
        assert busy.status_code == 409 and "door" in busy.json()["error"]["message"]

        made = operator.post(
            "/v1/watchlists",
            json={"name": "visitors", "purpose": "day passes", "lawful_basis": "consent"},
        )
        made.raise_for_status()
        visitors = made.json()["watchlist_id"]
        assert operator.put(f"/v1/watchlists/visitors/members/{site['subject']}").status_code == 204
        joined = operator.get(f"/v1/subjects/{site['subject']}").json()["watchlists"]
        assert {"visitors", visitors} & set(joined)
        assert operator.delete("/v1/watchlists/visitors").status_code == 204
        assert operator.delete("/v1/watchlists/visitors").status_code == 404
        before = operator.get(f"/v1/subjects/{site['subject']}").json()["watchlists"]
        assert not {"visitors", visitors} & set(before)
        names = [w["name"] for w in operator.get("/v1/watchlists").json()["watchlists"]]
        assert "visitors" not in names and "barred" in names
    actions = [a for _, a, _, _ in _actions(live)]
    assert "watchlist.update" in actions and "watchlist.delete" in actions


def test_the_camera_view_is_the_latest_frame_boxed_and_never_a_sensitive_cameras(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path]
) -> None:
    with live.client("operator") as operator:
        view = operator.get("/v1/cameras/door/view")
        assert view.status_code == 200, view.text
        assert view.headers["cache-control"] == "no-store"
        image = cv2.imdecode(np.frombuffer(view.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] <= 960
        # The face is boxed in the console's blue (BGR here): some pixels are exactly it.
        blue = np.all(np.abs(image.astype(int) - (235, 99, 37)) < 40, axis=2)
        assert blue.sum() > 100
        operator.post(
            "/v1/cameras", json={"name": "chapel", "location": "prayer room", "sensitive": True}
        ).raise_for_status()
        operator.post(
            "/v1/cameras/chapel/frames",
            files={"image": ("frame.jpg", photos["obama2"].read_bytes(), "image/jpeg")},
        ).raise_for_status()
        hidden = operator.get("/v1/cameras/chapel/view")
        assert hidden.status_code == 404 and "sensitive" in hidden.json()["error"]["message"]
        assert operator.get("/v1/cameras/nowhere/view").status_code == 404
    with live.client("analyst") as analyst:
        assert analyst.get("/v1/cameras/door/view").status_code == 403


def test_an_edited_purpose_and_lawful_basis_stay_sealed_at_rest(
    live: LiveServer, site: dict[str, str]
) -> None:
    purpose, basis = "Ban list of Mirela Ionescu's shop", "Consent form of Dragan Petrovic"
    with live.client("operator") as operator:
        edited = operator.patch(
            "/v1/watchlists/barred", json={"purpose": purpose, "lawful_basis": basis}
        )
        assert edited.status_code == 200, edited.text
        assert (edited.json()["purpose"], edited.json()["lawful_basis"]) == (purpose, basis)
    data = _db_bytes(live)
    assert purpose.encode() not in data and basis.encode() not in data


def test_an_alert_is_escalated_with_a_note_audited_and_off_the_queue(
    live: LiveServer, site: dict[str, str]
) -> None:
    camera = live.warden.store.get_camera(site["door"])
    assert camera is not None
    seen = datetime.now(UTC) - timedelta(minutes=10)
    raised = live.warden.sightings.open_visit(
        camera, site["subject"], camera.watchlists[0], seen, seen + timedelta(seconds=5), 0.9
    )
    handed = "Handed to the duty supervisor, radio channel 3"
    with live.client("operator") as operator:
        done = operator.post(f"/v1/alerts/{raised}/escalate", json={"note": handed})
        assert done.status_code == 200, done.text
        assert done.json()["decision"] == "escalated"
        again = operator.post(f"/v1/alerts/{raised}/acknowledge", json={})
        assert again.status_code == 409
        assert operator.get(f"/v1/alerts/{raised}").json()["note"] == handed
        still_open = operator.get("/v1/alerts", params={"state": "open"}).json()["sightings"]
        assert raised not in {a["sighting_id"] for a in still_open}
    with live.client("analyst") as analyst:
        assert analyst.post(f"/v1/alerts/{raised}/escalate", json={}).status_code == 403
    assert ("alert.escalate", raised) in [(a, o) for _, a, o, _ in _actions(live)]
    assert handed.encode() not in _db_bytes(live)  # the note is sealed


def test_notes_are_added_after_the_decision_sealed_audited_and_never_rewritten(
    live: LiveServer, site: dict[str, str]
) -> None:
    # A reviewer comes back to an alert decided earlier in the shift: "confirmed with
    # the guard on site". The decision and its note stand; notes are added after it.
    camera = live.warden.store.get_camera(site["door"])
    assert camera is not None
    seen = datetime.now(UTC) - timedelta(minutes=5)
    raised = live.warden.sightings.open_visit(
        camera, site["subject"], camera.watchlists[0], seen, seen + timedelta(seconds=5), 0.9
    )
    later = ["Confirmed with the guard on site, gate 4", "Guard's report filed as GR-118"]
    with live.client("operator") as operator:
        early = operator.post(f"/v1/alerts/{raised}/notes", json={"note": later[0]})
        assert early.status_code == 409, early.text  # decide first: that note goes with it
        assert early.json()["error"]["type"] == "ConflictError"
        operator.post(f"/v1/alerts/{raised}/acknowledge", json={"note": NOTE}).raise_for_status()
        for text in later:
            added = operator.post(f"/v1/alerts/{raised}/notes", json={"note": f"  {text} "})
            assert added.status_code == 201, added.text
            assert added.json()["note"] == text and added.json()["written_by"]
        for bad in ({"note": "   "}, {"note": "x" * 501}, {}, {"note": "ok", "extra": 1}):
            refused = operator.post(f"/v1/alerts/{raised}/notes", json=bad)
            assert refused.status_code in (400, 422), (bad, refused.text)
            assert set(refused.json()["error"]) >= {"type", "message"}
        missing = operator.post("/v1/alerts/sig_nothere/notes", json={"note": "x"})
        assert missing.status_code == 404
        review = operator.get(f"/v1/alerts/{raised}").json()
    assert review["note"] == NOTE  # the decision's own note is unchanged
    assert [n["note"] for n in review["notes"]] == later  # oldest first
    assert all(n["written_at"] and n["written_by"] for n in review["notes"])
    for role in ("analyst", "auditor", "investigator"):
        with live.client(role) as other:
            answer = other.post(f"/v1/alerts/{raised}/notes", json={"note": "mine"})
            assert answer.status_code == 403, (role, answer.text)
    noted = [o for _, a, o, _ in _actions(live) if a == "alert.note"]
    assert noted.count(raised) == 2
    data = _db_bytes(live)
    assert all(text.encode() not in data for text in later)  # sealed like the decision's


def test_what_is_new_is_what_was_recorded_since_whenever_it_was_first_seen(
    live: LiveServer, site: dict[str, str]
) -> None:
    # A face tracked from afar is identified later; a lagging camera's frames come late:
    # a sighting recorded after another may have been first seen before it.
    camera = live.warden.store.get_camera(site["door"])
    assert camera is not None
    with live.client("operator") as operator:
        first = operator.get("/v1/alerts", params={"limit": 1})
        assert first.status_code == 200, first.text
        position = first.json()["recorded_to"]
        now = datetime.now(UTC)
        recorded = [
            live.warden.sightings.open_visit(
                camera,
                site["subject"],
                camera.watchlists[0],
                seen,
                seen + timedelta(seconds=1),
                0.9,
            )
            for seen in (now - timedelta(minutes=2), now - timedelta(minutes=20))
        ]
        new = operator.get("/v1/alerts", params={"recorded_after": position, "limit": 1})
        assert new.status_code == 200, new.text
        assert [a["sighting_id"] for a in new.json()["sightings"]] == recorded[:1]
        position = new.json()["recorded_to"]
        rest = operator.get("/v1/alerts", params={"recorded_after": position}).json()
        assert [a["sighting_id"] for a in rest["sightings"]] == recorded[1:]
        again = operator.get("/v1/alerts", params={"recorded_after": rest["recorded_to"]})
        assert again.json()["sightings"] == []
        assert again.json()["recorded_to"] >= rest["recorded_to"]
        both = operator.get("/v1/alerts", params={"recorded_after": 0, "cursor": "x"})
        assert both.status_code == 400, both.text
        ahead = operator.get("/v1/alerts", params={"recorded_after": 2**40}).json()
        assert ahead["recorded_to"] <= again.json()["recorded_to"] + 5  # back to where it is
        negative = operator.get("/v1/alerts", params={"recorded_after": -1})
        assert negative.status_code == 422, negative.text


def test_the_export_over_http_holds_the_sighting_and_what_the_desk_did_about_it(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path]
) -> None:
    """GDPR Art. 15 over HTTP: the streamed export holds the alert, its decision and its note."""
    with live.client("operator") as operator:
        operator.post(
            "/v1/cameras",
            json={
                "name": "east-gate",
                "location": "east gate",
                "watchlists": ["barred"],
                "keep_thumbnails": True,
            },
        ).raise_for_status()
        pushed = operator.post(
            "/v1/cameras/east-gate/frames",
            files={"image": ("frame.jpg", photos["obama2"].read_bytes(), "image/jpeg")},
        )
        pushed.raise_for_status()
        (sighting,) = pushed.json()["new_sightings"]
        escalated = operator.post(f"/v1/alerts/{sighting}/escalate", json={"note": NOTE})
        escalated.raise_for_status()
        answer = operator.get(
            f"/v1/subjects/{site['subject']}/export", params={"purpose": "art. 15 request"}
        )
        missing = operator.get("/v1/subjects/sub_0123456789abcdef/export")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    ExportOut.model_validate(body)
    exported = {s["sighting_id"]: s for s in body["sightings"]}
    assert exported[sighting]["camera"]["location"] == "east gate"
    assert exported[sighting]["decision"]["decision"] == "escalated"
    assert exported[sighting]["decision"]["note"] == NOTE
    crop = base64.b64decode(exported[sighting]["face_crop_jpeg_base64"])
    assert cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR) is not None
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFoundError"
