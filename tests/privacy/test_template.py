"""Template protection: exact similarity, unlinkability, renewal (promise 8)."""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facewarden.errors import IntegrityError
from facewarden.privacy import (
    KeyRing,
    TemplateProtector,
    pack_vector,
    renew,
    renewal,
    unpack_vector,
)

SEED_A = bytes(range(32))
SEED_B = bytes(range(32, 64))
DIM = 128


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> npt.NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = x.astype(np.float32)
    return unit


def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


@pytest.fixture(scope="module")
def protector() -> TemplateProtector:
    return TemplateProtector.from_seed(SEED_A, DIM, key_id="tk-aaaaaaaa")


# Elements drawn away from 0 only via the norm filter; float32 like real embeddings.
vectors = arrays(np.float32, DIM, elements=st.floats(-1, 1, width=32)).filter(
    lambda v: float(np.linalg.norm(v.astype(np.float64))) > 1e-3
)


@settings(max_examples=200, deadline=None)
@given(a=vectors, b=vectors)
def test_cosine_similarity_is_preserved(
    protector: TemplateProtector, a: np.ndarray, b: np.ndarray
) -> None:
    a = (a / np.linalg.norm(a.astype(np.float64))).astype(np.float32)
    b = (b / np.linalg.norm(b.astype(np.float64))).astype(np.float32)
    pa, pb = protector.protect(a), protector.protect(b)
    assert abs(cosine(pa, pb) - cosine(a, b)) < 1e-6


def test_output_is_float32_unit_vectors_of_the_same_shape(protector: TemplateProtector) -> None:
    x = unit_vectors(5)
    batch = protector.protect(x)
    assert batch.dtype == np.float32 and batch.shape == (5, DIM)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-6)
    single = protector.protect(x[2])
    assert single.shape == (DIM,)
    np.testing.assert_allclose(single, batch[2], atol=1e-7)
    # Not re-normalised input is fine: direction is all that matters.
    np.testing.assert_allclose(protector.protect(3.0 * x[2].astype(np.float64)), single, atol=1e-7)
    assert protector.protect(np.empty((0, DIM), np.float32)).shape == (0, DIM)


def test_the_transform_is_not_close_to_the_identity(protector: TemplateProtector) -> None:
    x = unit_vectors(100)
    own = [abs(cosine(v, p)) for v, p in zip(x, protector.protect(x), strict=True)]
    assert np.mean(own) < 0.2


def test_same_seed_gives_the_same_transform() -> None:
    x = unit_vectors(3)
    first = TemplateProtector.from_seed(SEED_A, DIM).protect(x)
    second = TemplateProtector.from_seed(SEED_A, DIM).protect(x)
    np.testing.assert_array_equal(first, second)


def test_the_derivation_never_changes() -> None:
    # Known answers: if this fails, every template stored by an earlier version
    # would silently stop matching. Change the derivation only with a migration.
    e0 = np.eye(DIM, dtype=np.float32)[0]
    np.testing.assert_allclose(
        TemplateProtector.from_seed(SEED_A, DIM).protect(e0)[:4],
        [-0.1271609216928482, 0.011132636107504368, 0.03921208158135414, -0.04383498430252075],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        TemplateProtector.from_seed(SEED_A, 4).protect(np.eye(4, dtype=np.float32)[0]),
        [-0.2172517329454422, -0.0656595379114151, -0.48010313510894775, 0.8473438024520874],
        atol=1e-6,
    )


def test_two_deployments_are_unlinkable() -> None:
    a, b = TemplateProtector.from_seed(SEED_A, DIM), TemplateProtector.from_seed(SEED_B, DIM)
    x = unit_vectors(100, seed=1)
    cross = [abs(cosine(pa, pb)) for pa, pb in zip(a.protect(x), b.protect(x), strict=True)]
    # Independent random rotations of 128-d vectors: E|cos| ~ sqrt(2 / (pi * 128)) ~ 0.07.
    assert np.mean(cross) < 0.2
    assert max(cross) < 0.5


def test_unprotect_inverts_protect(protector: TemplateProtector) -> None:
    x = unit_vectors(10)
    np.testing.assert_allclose(protector.unprotect(protector.protect(x)), x, atol=1e-6)


def test_renewal_maps_old_templates_to_new_ones() -> None:
    old, new = TemplateProtector.from_seed(SEED_A, DIM), TemplateProtector.from_seed(SEED_B, DIM)
    x = unit_vectors(50, seed=2)
    matrix = renewal(old, new)
    assert matrix.shape == (DIM, DIM)
    np.testing.assert_allclose(renew(old.protect(x), matrix), new.protect(x), atol=1e-6)
    np.testing.assert_allclose(renew(old.protect(x[0]), matrix), new.protect(x[0]), atol=1e-6)
    with pytest.raises(ValueError, match="renew"):
        renewal(old, TemplateProtector.from_seed(SEED_B, 64))


def test_from_keyring_uses_the_active_or_staged_seed(keyring: KeyRing) -> None:
    active = TemplateProtector.from_keyring(keyring)
    assert active.key_id == keyring.template_key_id and active.dim == DIM
    with pytest.raises(ValueError, match="no template seed is staged"):
        TemplateProtector.from_keyring(keyring, staged=True)
    staged_id = keyring.new_template_seed()
    staged = TemplateProtector.from_keyring(keyring, staged=True)
    assert staged.key_id == staged_id
    x = unit_vectors(1)
    assert abs(cosine(active.protect(x[0]), staged.protect(x[0]))) < 0.5


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(DIM - 1, np.float32),
        np.ones((2, DIM + 1), np.float32),
        np.ones((2, 2, DIM), np.float32),
        np.ones(DIM, np.int64),
        np.zeros(DIM, np.float32),
        np.full(DIM, np.nan, np.float32),
        np.full(DIM, np.inf, np.float32),
    ],
    ids=["short", "wide", "3d", "ints", "zero", "nan", "inf"],
)
def test_bad_embeddings_are_refused(protector: TemplateProtector, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        protector.protect(bad)


def test_only_orthogonal_matrices_and_real_seeds_are_accepted() -> None:
    with pytest.raises(ValueError, match="orthogonal"):
        TemplateProtector(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="square"):
        TemplateProtector(np.eye(4)[:3])
    with pytest.raises(ValueError, match="16 bytes"):
        TemplateProtector.from_seed(b"short")
    with pytest.raises(ValueError, match="dim"):
        TemplateProtector.from_seed(SEED_A, 1)


def test_repr_does_not_show_the_matrix(protector: TemplateProtector) -> None:
    assert repr(protector) == "TemplateProtector(dim=128, key_id='tk-aaaaaaaa')"


def test_vectors_pack_as_little_endian_float32() -> None:
    assert pack_vector(np.array([1.0, -2.5])) == struct.pack("<2f", 1.0, -2.5)
    v = unit_vectors(1)[0]
    back = unpack_vector(pack_vector(v), DIM)
    assert back.dtype == np.float32 and back.flags.writeable
    np.testing.assert_array_equal(back, v)


def test_corrupt_stored_vectors_are_refused() -> None:
    with pytest.raises(IntegrityError, match="expected 512"):
        unpack_vector(b"\x00" * 508, DIM)
    with pytest.raises(IntegrityError, match="NaN"):
        unpack_vector(struct.pack("<2f", 1.0, float("nan")), 2)
    with pytest.raises(ValueError):
        pack_vector(np.ones((2, 2)))
    with pytest.raises(ValueError):
        pack_vector(np.array([np.inf]))
