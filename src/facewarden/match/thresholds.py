"""Operating points: the similarity threshold for each false match rate, per model.

A threshold only means something with the FMR it was calibrated for. These
were measured with ``facewarden eval thresholds`` (``eval/calibrate.py``):
every image of the folder is embedded, every pair of images of different
people is an impostor comparison, and the threshold at FMR ``f`` is the
lowest similarity that at most a fraction ``f`` of impostor pairs reach.

Measured on the LFW View 2 fold 1 images (``shared/data/lfw-fold1/lfw``:
807 images of 435 people, a face found in every one; 931 genuine and
324,290 impostor pairs), cosine similarity of L2-normalised dlib ResNet
embeddings, thresholds rounded up to 4 decimals. The two presets' rows were
measured on 2026-12-01 with their own detectors (MTCNN boxes, dlib's
5 landmarks, ``vision/align.py``); the single-view row on 2026-11-26, with
the HOG cascade that was the detector then:

==========================  ==========  ==========  ==========
model key / FMR             1e-2        1e-3        1e-4
==========================  ==========  ==========  ==========
dlib-resnet (one view)      0.9075      0.9250      0.9406
  FNMR on LFW               1.07%       7.30%       24.9%
dlib-resnet+mirror          0.9106      0.9277      0.9424
  (``fast``) FNMR on LFW    0.86%       6.66%       20.5%
dlib-resnet+mirror+jitter8  0.9133      0.9301      0.9437
  (``accurate``) FNMR       0.97%       5.05%       18.3%
==========================  ==========  ==========  ==========

``+mirror`` averages the embeddings of the chip and its mirror;
``+mirror+jitter8`` adds eight jittered copies of the chip (ten views).

LFW's genuine pairs are hard (ageing, pose, light); enrollment and ID
photos are kinder, so the FNMR in use is lower.

The FMR 1e-4 point rests on about 32 impostor pairs and is a rough estimate;
recalibrate on a larger set (``facewarden eval thresholds --root DIR``)
before relying on it. Averaged embeddings (mirror, jitters) are more alike
overall, so each set of views gets its own, higher, thresholds.
"""

from __future__ import annotations

from typing import Protocol

from facewarden.errors import ConfigError

__all__ = ["DEFAULT_FMR", "FMR_CHOICES", "THRESHOLDS", "model_key", "threshold_for"]

#: The FMRs with calibrated thresholds, as the CLI spells them.
FMR_CHOICES = ["1e-2", "1e-3", "1e-4"]
DEFAULT_FMR = 1e-3

#: model key -> {fmr: similarity threshold}
THRESHOLDS: dict[str, dict[float, float]] = {
    "dlib-resnet": {1e-2: 0.9075, 1e-3: 0.9250, 1e-4: 0.9406},
    "dlib-resnet+mirror": {1e-2: 0.9106, 1e-3: 0.9277, 1e-4: 0.9424},
    "dlib-resnet+mirror+jitter8": {1e-2: 0.9133, 1e-3: 0.9301, 1e-4: 0.9437},
}


class _PipelineLike(Protocol):
    @property
    def mirror(self) -> bool: ...

    @property
    def jitters(self) -> int: ...

    @property
    def embedder(self) -> object: ...


def model_key(embedder_name: str, *, mirror: bool, jitters: int = 0) -> str:
    """The key of :data:`THRESHOLDS` for an embedder and the views its embeddings average.

    ``dlib-resnet`` (one view), ``dlib-resnet+mirror``, ``dlib-resnet+mirror+jitter8``.
    """
    key = f"{embedder_name}+mirror" if mirror else embedder_name
    return f"{key}+jitter{jitters}" if jitters else key


def threshold_for(pipeline: _PipelineLike, fmr: float = DEFAULT_FMR) -> float:
    """The similarity threshold of ``pipeline``'s embeddings at false match rate ``fmr``.

    Raises:
        ConfigError: no calibration for this model or this FMR.
    """
    # An embedder computing the same model another way (dlib's ResNet converted
    # to ONNX) names the model whose calibration it shares.
    name = str(getattr(pipeline.embedder, "equivalent_to", "") or "")
    name = name or str(getattr(pipeline.embedder, "name", ""))
    key = model_key(name, mirror=pipeline.mirror, jitters=pipeline.jitters)
    table = THRESHOLDS.get(key)
    if table is None:
        raise ConfigError(
            f"no calibrated thresholds for model {key!r}; "
            "run `facewarden eval thresholds` and add them"
        )
    for calibrated, threshold in table.items():  # floats from the CLI: compare with tolerance
        if abs(calibrated - fmr) <= 1e-12:
            return threshold
    choices = ", ".join(f"{f:g}" for f in sorted(table))
    raise ConfigError(f"no threshold calibrated at FMR {fmr:g}; choose one of: {choices}")
