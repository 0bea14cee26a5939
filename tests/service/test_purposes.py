"""Every access to a person is audited with a purpose, defaulted from the watchlists (promise 17).

Issue 13 finding 10: many subject reads were audited with no purpose at all.
Here every service path that reads or writes a subject is taken without a
purpose, for a subject on a watchlist and one on none; then every audit
entry is checked: none has an empty purpose, the first subject's carry
their watchlist's declared purpose, the others a marker that none was given.
A purpose that is given is recorded as given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from facewarden.service import Warden
from facewarden.service.purposes import NONE_GIVEN

from ._data import KNN

DECLARED = "access control at the loading bay"
OBAMA = KNN / "train" / "obama"
BIDEN = KNN / "train" / "biden"


def test_every_subject_access_without_a_purpose_is_audited_with_one(
    warden: Warden, enroll: Callable[..., object], faces_dir: Path
) -> None:
    warden.watchlists.create("staff", purpose=DECLARED, lawful_basis="contract")
    listed = enroll(warden, "Barack Obama", [OBAMA / "obama2.jpg"], ["staff"], id_number="P-1")
    unlisted = enroll(warden, "Joe Biden", [BIDEN / "biden.jpg"], id_number="P-2")
    on, off = listed.subject_id, unlisted.subject_id  # type: ignore[attr-defined]
    start = warden.store.last_audit().seq  # type: ignore[union-attr]

    for subject_id in (on, off):
        warden.registry.get(subject_id)
        warden.registry.export(subject_id)
        warden.registry.update(subject_id, {"notes": "badge renewed"})
        face_id = warden.faces.add(subject_id, KNN / "test" / "obama1.jpg", force=True)
        warden.faces.remove(subject_id, face_id)
    warden.registry.find_by_id_number("p 1")
    warden.registry.subjects()
    warden.recognition.verify(KNN / "test" / "obama1.jpg", on)
    warden.recognition.verify_images(OBAMA / "obama2.jpg", KNN / "test" / "obama1.jpg")
    warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
    warden.listings.members("staff")
    warden.watchlists.add("staff", off)
    warden.watchlists.remove("staff", off)
    warden.registry.erase(off)
    warden.registry.get(on, purpose="case 2026/7")

    entries = [e for e in warden.audit.entries(after_seq=start, limit=500)]
    assert len(entries) >= 20
    assert [e.action for e in entries if not e.purpose.strip()] == []
    about_on = [e for e in entries if e.object_id == on]
    assert {e.purpose for e in about_on[:-1]} == {DECLARED}
    assert about_on[-1].purpose == "case 2026/7"
    about_off = [
        e for e in entries if e.object_id == off and e.action.startswith(("subject", "face"))
    ]
    assert about_off and all(NONE_GIVEN in e.purpose for e in about_off)
    others = {e.action: e.purpose for e in entries if not e.object_id}
    assert NONE_GIVEN in others["subject.list"] and NONE_GIVEN in others["verify.images"]
    assert warden.audit.verify().ok
