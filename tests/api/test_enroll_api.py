"""POST /v1/subjects answers with the subject as committed, audited once."""

from __future__ import annotations

from pathlib import Path

from ._live import LiveServer


def test_enrolling_answers_the_stored_subject_with_one_audit_entry(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    with live.client("operator") as client:
        response = client.post(
            "/v1/subjects",
            data={"record": '{"full_name": "Joe Biden", "lawful_basis": "test"}'},
            files={"file": ("b.jpg", photos["biden"].read_bytes(), "image/jpeg")},
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["record"]["full_name"] == "Joe Biden"
    assert len(body["faces"]) == 1 and body["created_at"] == body["updated_at"]
    # The answer is read inside the enrolling transaction: no second, audited
    # read of the record that nobody asked for.
    about = [
        e.action for e in live.warden.audit.entries(limit=500) if e.object_id == body["subject_id"]
    ]
    assert about == ["subject.enroll"]
