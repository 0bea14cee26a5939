"""What recognition answers: candidates per probe face, an identification, a verification.

Plain frozen results, built by :class:`~facewarden.service.recognition.Recognition`
and rendered by the API and the CLI; their JSON shape (``to_dict``) never
holds an embedding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facewarden.types import Face

__all__ = ["Candidate", "Identification", "ProbeFace", "Verification"]


@dataclass(frozen=True)
class Candidate:
    """A subject similar to a probe face; ``is_match`` when at or over the threshold."""

    subject_id: str
    similarity: float
    threshold: float
    display_name: str | None = None

    @property
    def is_match(self) -> bool:
        return self.similarity >= self.threshold

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "subject_id": self.subject_id,
            "similarity": round(self.similarity, 4),
            "threshold": round(self.threshold, 4),
            "is_match": self.is_match,
            "display_name": self.display_name,
        }


@dataclass(frozen=True)
class ProbeFace:
    """One face found in a probe image, with its candidates (none if it is not usable)."""

    face: Face
    candidates: tuple[Candidate, ...] = ()

    @property
    def usable(self) -> bool:
        return self.face.usable

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the face was not searched (empty when it was)."""
        return () if self.face.quality is None else self.face.quality.reasons

    @property
    def matches(self) -> tuple[Candidate, ...]:
        """The candidates at or over the threshold."""
        return tuple(c for c in self.candidates if c.is_match)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output (never the embedding)."""
        return self.face.to_dict() | {
            "usable": self.usable,
            "reasons": list(self.reasons),
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class Identification:
    """The outcome of :meth:`Recognition.identify`."""

    watchlist_id: str
    watchlist_name: str
    fmr: float
    threshold: float
    faces: tuple[ProbeFace, ...]

    @property
    def matched_subjects(self) -> tuple[str, ...]:
        """Ids of every subject matched by some face, in face order."""
        return tuple(dict.fromkeys(c.subject_id for f in self.faces for c in f.matches))

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "watchlist_id": self.watchlist_id,
            "watchlist": self.watchlist_name,
            "fmr": self.fmr,
            "threshold": round(self.threshold, 4),
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass(frozen=True)
class Verification:
    """The outcome of a 1:1 comparison."""

    similarity: float
    threshold: float
    fmr: float
    subject_id: str | None = None
    warnings: tuple[str, ...] = field(default=())
    faces: tuple[Face, ...] = field(default=(), repr=False)
    """The probe faces compared (one for a subject, two for two images); never stored."""

    @property
    def is_match(self) -> bool:
        return self.similarity >= self.threshold

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "subject_id": self.subject_id,
            "similarity": round(self.similarity, 4),
            "threshold": round(self.threshold, 4),
            "fmr": self.fmr,
            "is_match": self.is_match,
            "warnings": list(self.warnings),
        }
