"""Pure face computation: detection, alignment, quality, embedding, pipeline, batches."""

from facewarden.vision.align import align, mirror
from facewarden.vision.batch import BatchItem, run_batch
from facewarden.vision.detect import (
    CascadeDetector,
    CnnDetector,
    Detector,
    HogDetector,
    make_detector,
)
from facewarden.vision.embed import DlibResnetEmbedder, Embedder, make_embedder
from facewarden.vision.pipeline import MODES, Pipeline, central_face
from facewarden.vision.quality import QualityPolicy, assess

__all__ = [
    "MODES",
    "BatchItem",
    "CascadeDetector",
    "CnnDetector",
    "Detector",
    "DlibResnetEmbedder",
    "Embedder",
    "HogDetector",
    "Pipeline",
    "QualityPolicy",
    "align",
    "assess",
    "central_face",
    "make_detector",
    "make_embedder",
    "mirror",
    "run_batch",
]
