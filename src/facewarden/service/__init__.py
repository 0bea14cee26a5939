"""The use cases, one module each, behind the :class:`Warden` facade."""

from facewarden.service.audit import AuditLog, AuditVerification
from facewarden.service.comparison import compare_images, main_face
from facewarden.service.enrollment import PreparedFace
from facewarden.service.faces import FaceEditor
from facewarden.service.keys import KeyAdmin, KeyStatus, MasterRotation, TemplateRotation
from facewarden.service.opening import database_path
from facewarden.service.recognition import Recognition
from facewarden.service.recognition_results import (
    Candidate,
    Identification,
    ProbeFace,
    Verification,
)
from facewarden.service.records import FIELD_NAMES, SubjectRecord
from facewarden.service.registry import Enrollment, FaceInfo, Registry, Subject, SubjectSummary
from facewarden.service.warden import Warden
from facewarden.service.watchlists import Watchlist, Watchlists

__all__ = [
    "FIELD_NAMES",
    "AuditLog",
    "AuditVerification",
    "Candidate",
    "Enrollment",
    "FaceEditor",
    "FaceInfo",
    "Identification",
    "KeyAdmin",
    "KeyStatus",
    "MasterRotation",
    "PreparedFace",
    "ProbeFace",
    "Recognition",
    "Registry",
    "Subject",
    "SubjectRecord",
    "SubjectSummary",
    "TemplateRotation",
    "Verification",
    "Warden",
    "Watchlist",
    "Watchlists",
    "compare_images",
    "database_path",
    "main_face",
]
