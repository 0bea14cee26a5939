"""Without a configured lawful basis, the CompreFace API recognises but never enrolls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._live import LiveServer, serving


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("closed"), compreface_lawful_basis=None) as running:
        yield running


def test_enrolling_is_refused_and_recognising_works(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    photo = photos["obama"].read_bytes()
    with live.client("operator") as client:
        refused = client.post(
            "/api/v1/recognition/faces", params={"subject": "Barack Obama"}, files={"file": photo}
        )
        assert refused.status_code == 403 and refused.json()["code"] == 32
        assert "FACEWARDEN_COMPREFACE_LAWFUL_BASIS" in refused.json()["message"]
        subject = client.post("/api/v1/recognition/subjects", json={"subject": "Barack Obama"})
        assert subject.status_code == 403
        recognised = client.post("/api/v1/recognition/recognize", files={"file": photo})
        assert recognised.status_code == 200
        assert [f["subjects"] for f in recognised.json()["result"]] == [[]]
        assert client.get("/api/v1/recognition/subjects").json() == {"subjects": []}
    assert live.warden.store.count_subjects() == 0
    assert live.warden.store.watchlist_by_name("compreface") is None
