"""Acceptance 3: the same faces in two deployments are unlinkable, and renewal changes nothing.

Each deployment protects templates with its own secret orthogonal transform.
Stored templates of the *same face* in two deployments are then about as
similar as two random unit vectors in 128 dimensions (|cos| around 0.07),
while inside each deployment similarities, and so decisions, are exactly
those of the raw embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facewarden.privacy import ManualClock
from facewarden.privacy.crypto import WrappedKey
from facewarden.service import Warden

from ._data import johns_split
from .conftest import Detect, make_settings

pytestmark = pytest.mark.slow


def _templates(warden: Warden, subject_id: str) -> np.ndarray:
    # Stored templates, as an attacker holding this deployment's keys would read them
    # (no export carries one).
    row = warden.store.get_subject(subject_id)
    assert row is not None
    _, templates = warden._ctx.templates_of(
        warden.store, subject_id, WrappedKey.from_bytes(row.wrapped_key)
    )
    return templates


def _decisions(warden: Warden, probes: list[list[object]]) -> list[list[tuple[str, float]]]:
    out = []
    for faces in probes:
        result = warden.recognition.identify_faces(faces, "johns", top_k=3)  # type: ignore[arg-type]
        out.append([(c.subject_id, c.similarity) for f in result.faces for c in f.candidates])
    return out


def test_two_deployments_unlinkable_and_template_renewal_keeps_results(
    tmp_path: Path, clock: ManualClock, detect: Detect, enroll: Callable[..., object]
) -> None:
    split = johns_split()
    probes = [detect(p, "fast") for _, queries in split.values() for p in queries]
    deployments = []
    for name in ("site-a", "site-b"):
        warden = Warden.open(make_settings(tmp_path / name), clock=clock, create=True)
        warden.watchlists.create("johns", purpose="acceptance test", lawful_basis="test")
        ids = {
            person: enroll(warden, person, gallery, watchlists=["johns"]).subject_id  # type: ignore[attr-defined]
            for person, (gallery, _) in split.items()
        }
        deployments.append((warden, ids))
    (site_a, ids_a), (site_b, ids_b) = deployments
    try:
        cross, same_site = [], []
        for person in split:
            a, b = _templates(site_a, ids_a[person]), _templates(site_b, ids_b[person])
            cross.extend(np.abs(np.sum(a * b, axis=1)))  # the same photo, two deployments
            same_site.extend((a @ a.T)[np.triu_indices(len(a), k=1)])
        mean_cross = float(np.mean(cross))
        print(
            f"\nsame face across deployments: mean |cos| = {mean_cross:.3f} "
            f"(max {max(cross):.3f}); same person within one: mean cos = "
            f"{np.mean(same_site):.3f}"
        )
        assert mean_cross < 0.2
        assert np.mean(same_site) > 0.9

        by_name_a = {v: k for k, v in ids_a.items()}
        by_name_b = {v: k for k, v in ids_b.items()}
        before_a, before_b = _decisions(site_a, probes), _decisions(site_b, probes)
        # Same decisions in both deployments, similarities equal to float precision.
        for hits_a, hits_b in zip(before_a, before_b, strict=True):
            assert [by_name_a[s] for s, _ in hits_a] == [by_name_b[s] for s, _ in hits_b]
            assert [x for _, x in hits_a] == pytest.approx([x for _, x in hits_b], abs=1e-5)

        rotation = site_a.keys.rotate_templates()
        assert rotation.templates == 25 and rotation.new_key_id != rotation.old_key_id
        renewed = _templates(site_a, ids_a["John_Simm"])
        assert np.abs(renewed @ _templates(site_b, ids_b["John_Simm"]).T).mean() < 0.2
        after_a = _decisions(site_a, probes)
        for hits_before, hits_after in zip(before_a, after_a, strict=True):
            assert [s for s, _ in hits_before] == [s for s, _ in hits_after]
            assert [x for _, x in hits_before] == pytest.approx(
                [x for _, x in hits_after], abs=1e-5
            )
        site_a.close()
        reopened = Warden.open(make_settings(tmp_path / "site-a"), clock=clock)
        try:
            for hits_reopened, hits_after in zip(
                _decisions(reopened, probes), after_a, strict=True
            ):
                assert [s for s, _ in hits_reopened] == [s for s, _ in hits_after]
        finally:
            reopened.close()
    finally:
        site_a.close()
        site_b.close()
