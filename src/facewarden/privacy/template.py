"""Template protection: a secret per-deployment orthogonal transform of embeddings.

In the spirit of ISO/IEC 24745, stored face templates are not the embedder's
raw vectors but ``R @ x`` for a secret random orthogonal matrix ``R`` derived
from the key directory's template seed:

* **no accuracy is lost**: an orthogonal map preserves dot products, so the
  cosine similarity of two protected templates equals that of the raw
  embeddings (to float32 rounding, well under 1e-6);
* **unlinkable**: two deployments have independent ``R``, so the same face
  enrolled in both gives templates that look unrelated (cross-similarity
  near 0), and a stolen database cannot be matched against another one;
* **renewable**: a new seed gives a new ``R``; :func:`renewal` maps every old
  template to the new transform directly, without the raw embeddings.

Honest limits: this is *not* encryption. Whoever holds the seed (or two
matching template sets of the same people, enough to estimate ``R``) can
invert the transform with :meth:`TemplateProtector.unprotect`, and protected
templates still match each other. So the seed lives in the key directory,
never in the database, and templates are also encrypted where the store allows.

The matrix is derived from ``SHA-256(domain | seed | dim)`` expanded with
SHAKE-256 into uniform numbers, turned into Gaussians by Box-Muller, then
QR-decomposed with sign correction (a Haar-random orthogonal matrix). numpy's
``Generator.standard_normal`` is avoided on purpose: numpy does not promise
its output stays the same across releases, and a changed matrix would
silently break every stored template. What remains version-dependent is
float64 rounding in ``log``/``cos``/QR, around 1e-15: far below float32.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from facewarden.errors import IntegrityError
from facewarden.privacy.keys import KeyRing

__all__ = [
    "DEFAULT_DIM",
    "TemplateProtector",
    "pack_vector",
    "renew",
    "renewal",
    "unpack_vector",
]

DEFAULT_DIM = 128
_MAX_DIM = 4096
_MIN_SEED = 16
_DOMAIN = b"facewarden/template/v1\x00"

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


class TemplateProtector:
    """Applies (and, for the key holder, reverses) the deployment's secret transform.

    Usually built with :meth:`from_seed` or :meth:`from_keyring`. The matrix
    is key material: it is never shown by ``repr`` and must never be stored.

    Args:
        matrix: a square orthogonal float matrix ``R``; protection is ``R @ x``.
        key_id: id of the seed it came from (``tk-...``), to record next to templates.

    Raises:
        ValueError: ``matrix`` is not square, too large, or not orthogonal.
    """

    def __init__(self, matrix: npt.ArrayLike, *, key_id: str | None = None) -> None:
        m = np.array(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not 2 <= m.shape[0] <= _MAX_DIM:
            raise ValueError(f"need a square matrix of size 2..{_MAX_DIM}, got shape {m.shape}")
        if not np.allclose(m @ m.T, np.eye(m.shape[0]), rtol=0.0, atol=1e-9):
            raise ValueError("the template transform must be an orthogonal matrix")
        m.setflags(write=False)
        self._matrix = m
        self._key_id = key_id

    @classmethod
    def from_seed(
        cls, seed: bytes, dim: int = DEFAULT_DIM, *, key_id: str | None = None
    ) -> TemplateProtector:
        """Derive the transform for ``dim``-dimensional embeddings from a secret seed.

        The same seed and dim always give the same matrix (see the module notes).

        Raises:
            ValueError: the seed is shorter than 16 bytes or dim is out of range.
        """
        if len(seed) < _MIN_SEED:
            raise ValueError(f"a template seed needs at least {_MIN_SEED} bytes")
        if not 2 <= dim <= _MAX_DIM:
            raise ValueError(f"embedding dim must be in 2..{_MAX_DIM}, got {dim}")
        return cls(_orthogonal_from_seed(seed, dim), key_id=key_id)

    @classmethod
    def from_keyring(
        cls, keyring: KeyRing, dim: int = DEFAULT_DIM, *, staged: bool = False
    ) -> TemplateProtector:
        """The transform of the key ring's active (or, with ``staged``, staged) seed.

        Raises:
            ValueError: ``staged`` is asked for but no seed is staged.
        """
        if not staged:
            return cls.from_seed(keyring.template_seed, dim, key_id=keyring.template_key_id)
        seed, key_id = keyring.staged_template_seed, keyring.staged_template_key_id
        if seed is None:
            raise ValueError("no template seed is staged; call KeyRing.new_template_seed() first")
        return cls.from_seed(seed, dim, key_id=key_id)

    def __repr__(self) -> str:
        return f"TemplateProtector(dim={self.dim}, key_id={self._key_id!r})"

    @property
    def dim(self) -> int:
        """The embedding dimension this transform accepts."""
        return int(self._matrix.shape[0])

    @property
    def key_id(self) -> str | None:
        """Id of the seed this transform was derived from, if known."""
        return self._key_id

    def protect(self, embeddings: npt.ArrayLike) -> Float32Array:
        """Transform embeddings for storage or search; shape ``(dim,)`` or ``(n, dim)``.

        Returns:
            ``float32`` unit vectors of the same shape.

        Raises:
            ValueError: wrong shape or dim, non-finite values, or a zero vector.
        """
        return _apply(self._matrix, embeddings)

    def unprotect(self, protected: npt.ArrayLike) -> Float32Array:
        """Invert :meth:`protect` (``R.T @ y``); anyone holding the seed can do this."""
        return _apply(self._matrix.T, protected)


def renewal(old: TemplateProtector, new: TemplateProtector) -> Float64Array:
    """The matrix ``new.R @ old.R.T`` taking old-protected templates to new-protected.

    Used by template rotation: :func:`renew` applies it to stored templates
    without ever reconstructing the raw embeddings in the database. The
    result is key material (with ``old`` it reveals ``new``); keep it in memory.

    Raises:
        ValueError: the two transforms have different dims.
    """
    if old.dim != new.dim:
        raise ValueError(f"cannot renew {old.dim}-d templates into a {new.dim}-d transform")
    return new._matrix @ old._matrix.T


def renew(protected: npt.ArrayLike, renewal_matrix: npt.ArrayLike) -> Float32Array:
    """Apply a :func:`renewal` matrix to old-protected templates, shape ``(dim,)`` or ``(n, dim)``.

    Raises:
        ValueError: the matrix is not orthogonal, or the templates' dim does not match.
    """
    return _apply(TemplateProtector(renewal_matrix)._matrix, protected)


def pack_vector(vector: npt.ArrayLike) -> bytes:
    """Serialise a 1-d vector as little-endian float32 bytes for storage.

    Raises:
        ValueError: not 1-d, or not finite.
    """
    arr = np.asarray(vector)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"pack_vector needs a 1-d numeric vector, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("pack_vector refuses NaN or infinite values")
    return arr.astype("<f4").tobytes()


def unpack_vector(data: bytes, dim: int) -> Float32Array:
    """Read a vector written by :func:`pack_vector`.

    Raises:
        IntegrityError: the byte length is not ``4 * dim`` or a value is not finite.
    """
    if len(data) != 4 * dim:
        raise IntegrityError(f"stored vector has {len(data)} bytes, expected {4 * dim} ({dim}-d)")
    arr = np.frombuffer(data, dtype="<f4").astype(np.float32)  # native order, writable copy
    if not np.all(np.isfinite(arr)):
        raise IntegrityError("stored vector holds NaN or infinite values")
    return arr


def _apply(matrix: Float64Array, vectors: npt.ArrayLike) -> Float32Array:
    arr = np.asarray(vectors)
    dim = matrix.shape[0]
    if arr.ndim not in (1, 2) or arr.shape[-1] != dim:
        raise ValueError(f"expected shape ({dim},) or (n, {dim}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"embeddings must be floating point, got {arr.dtype}")
    x = arr.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings hold NaN or infinite values")
    # Row vectors: (R @ x)^T == x^T @ R^T. Work in float64, store float32.
    out: Float64Array = x @ matrix.T
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    if np.any(norms == 0.0):
        raise ValueError("cannot protect a zero vector")
    protected: Float32Array = (out / norms).astype(np.float32)
    return protected


def _orthogonal_from_seed(seed: bytes, dim: int) -> Float64Array:
    digest = hashlib.sha256(_DOMAIN + seed + dim.to_bytes(4, "big")).digest()
    pairs = (dim * dim + 1) // 2
    words = np.frombuffer(hashlib.shake_256(digest).digest(16 * pairs), dtype="<u8")
    uniform = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53  # 53 bits, [0, 1)
    radius = np.sqrt(-2.0 * np.log(1.0 - uniform[0::2]))  # 1 - u is in (0, 1]: log is finite
    angle = 2.0 * np.pi * uniform[1::2]
    gauss = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).ravel()
    q, r = np.linalg.qr(gauss[: dim * dim].reshape(dim, dim))
    # QR is unique only up to column signs; fixing diag(R) > 0 makes Q Haar-distributed.
    signs = np.where(np.diag(r) < 0.0, -1.0, 1.0)
    return np.asarray(q * signs, dtype=np.float64)
