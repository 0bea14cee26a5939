"""Faces turned a quarter, half or three quarters (a phone photo whose EXIF turn was lost).

Without a retry, MTCNN finds some of these faces with a low score and dlib's
landmark predictor, which starts from an upright mean face, fits them wrong:
the embedding of a person's own turned photo then scores about 0.87 against
their upright one, far below every operating point, and verification says
"different person" about a face it did find. Both modes search the turns:
``accurate`` (enrollment, verify) and ``fast`` (identification, CompreFace's
recognize and detect), whose probes are compared with ``accurate`` templates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden import imaging
from facewarden.match.similarity import cosine_similarity
from facewarden.match.thresholds import threshold_for
from facewarden.service.watchlists import comparison_threshold
from facewarden.types import Box
from facewarden.vision.detect import MTCNN
from facewarden.vision.orientation import QuarterTurns, turned_back
from facewarden.vision.pipeline import Pipeline, central_face

# Same-person pairs of the LFW fold (pairs.txt's first lines) and one pair of two people.
SAME_PERSON = [("Abel_Pacheco", 1, "Abel_Pacheco", 4), ("Akhmed_Zakayev", 1, "Akhmed_Zakayev", 3)]
DIFFERENT_PEOPLE = [("Abel_Pacheco", 1, "Akhmed_Zakayev", 3)]
# Upside down, MTCNN scores this face 0.9957 where it stands: a face fitted upside
# down whose embedding reached 0.9322 against another person (over FMR 1e-3's 0.9301).
UPSIDE_DOWN_IMPOSTOR = ("Alfonso_Soriano", 1, "Patty_Schnyder", 3)


def _lfw(lfw_dir: Path, name: str, number: int) -> np.ndarray:
    return imaging.decode(lfw_dir / "lfw" / name / f"{name}_{number:04d}.jpg")


@pytest.fixture(scope="module")
def accurate() -> Pipeline:
    return Pipeline.from_mode("accurate")


@pytest.fixture(scope="module")
def fast() -> Pipeline:
    return Pipeline.from_mode("fast")


def _enrolled(accurate: Pipeline, image: np.ndarray) -> np.ndarray:
    face = central_face(accurate.run(image), image.shape)
    assert face is not None and face.usable
    return face.require_embedding()


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_a_turned_photo_is_identified_in_fast_mode(
    lfw_dir: Path, fast: Pipeline, accurate: Pipeline, quarters: int
) -> None:
    # /v1/identify runs fast mode on the probe against templates enrolled in
    # accurate mode, at the stricter of the two pipelines' thresholds. Searched
    # upright only, the fast probe turned a quarter or three quarters had no
    # face and upside down one fitted upside down (0 of 30 LFW pairs verified
    # at any turn, benchmarks/robustness.py).
    a, i, b, j = SAME_PERSON[0]
    turned = np.ascontiguousarray(np.rot90(_lfw(lfw_dir, a, i), quarters))
    face = central_face(fast.run(turned), turned.shape)
    assert face is not None and face.usable
    similarity = cosine_similarity(
        face.require_embedding(), _enrolled(accurate, _lfw(lfw_dir, b, j))
    )
    assert similarity >= comparison_threshold(fast, accurate, 1e-3)


def test_an_upside_down_stranger_is_not_identified_in_fast_mode(
    lfw_dir: Path, fast: Pipeline, accurate: Pipeline
) -> None:
    # Fitted upside down where MTCNN scored it (0.9957), this stranger's fast
    # embedding reached 0.9307 against the enrolled template: over the
    # identification threshold at FMR 1e-3 (0.9301), a false match.
    a, i, b, j = UPSIDE_DOWN_IMPOSTOR
    turned = np.ascontiguousarray(np.rot90(_lfw(lfw_dir, a, i), 2))
    face = central_face(fast.run(turned), turned.shape)
    assert face is not None
    similarity = cosine_similarity(
        face.require_embedding(), _enrolled(accurate, _lfw(lfw_dir, b, j))
    )
    assert similarity < comparison_threshold(fast, accurate, 1e-2)


def test_fast_mode_keeps_an_upright_face_that_also_scores_well_upside_down(
    lfw_dir: Path, fast: Pipeline
) -> None:
    # Noah_Wyle_0002 scores 0.9947 upright and its crop scores higher upside down
    # (O-Net: 0.998 against 0.985), so its turns are searched. Searched from 40 px
    # as a faceless photo's are, the photo upside down gave a face of 0.9950 with a
    # poorer box, which was taken and cost a pair of fold 1 (99.00% for 99.17%);
    # searched from the detector's 20 px, as accurate does, it scores 0.9920.
    image = _lfw(lfw_dir, "Noah_Wyle", 2)
    [upright] = MTCNN.detect(image)
    face = central_face(fast.run(image, embed=False), image.shape)
    assert face is not None and face.box == upright.box


def test_fast_mode_stands_up_a_face_found_only_as_a_small_false_one(
    lfw_dir: Path, fast: Pipeline
) -> None:
    # Upside down, MTCNN finds only a face of under 40 px (0.72) in Chuck_Eidson_0001:
    # no face the quality bar would let be recognised, so the turns are searched.
    turned = np.ascontiguousarray(np.rot90(_lfw(lfw_dir, "Chuck_Eidson", 1), 2))
    assert all(np.sqrt(f.box.width * f.box.height) < 40 for f in MTCNN.detect(turned))
    face = central_face(fast.run(turned, embed=False), turned.shape)
    assert face is not None and face.usable
    eyes, nose = face.landmarks[:4, 1].mean(), face.landmarks[4, 1]
    assert eyes > nose  # fitted the right way up, then turned back: the eyes below the nose


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_fast_mode_answers_a_turned_photos_face_in_the_photos_own_pixels(
    faces_dir: Path, fast: Pipeline, quarters: int
) -> None:
    # What a client gets back (box, landmarks) is in the pixels it sent, and
    # the chip embedded is the upright face's: the face found in obama.jpg
    # turned is the upright photo's face carried through the same turns.
    # obama.jpg's short side (910 px) is over the 800 px the turns are
    # searched at, so the scaling back is exercised too.
    image = imaging.decode(faces_dir / "face_recognition" / "tests" / "test_images" / "obama.jpg")
    [upright] = fast.run(image)
    turned = np.ascontiguousarray(np.rot90(image, quarters))
    [face] = fast.run(turned)
    # np.rot90(turned, 4 - quarters) is the photo again: turned_back carries the
    # upright face forward into the turned photo's pixels.
    box, landmarks = turned_back(upright.box, upright.landmarks, 4 - quarters, image.shape)
    height, width = turned.shape[:2]
    assert 0 <= face.box.x_min < face.box.x_max <= width
    assert 0 <= face.box.y_min < face.box.y_max <= height
    assert face.box.iou(box) > 0.85
    assert np.abs(face.landmarks - landmarks).max() < 6.0
    assert face.usable
    same = cosine_similarity(face.require_embedding(), upright.require_embedding())
    assert same > 0.97


@pytest.mark.parametrize("quarters", [1, 2, 3])
@pytest.mark.parametrize(("a", "i", "b", "j"), SAME_PERSON)
def test_a_turned_photo_still_verifies_in_accurate_mode(
    lfw_dir: Path, accurate: Pipeline, quarters: int, a: str, i: int, b: str, j: int
) -> None:
    upright, other = _lfw(lfw_dir, a, i), _lfw(lfw_dir, b, j)
    turned = np.ascontiguousarray(np.rot90(upright, quarters))
    face = central_face(accurate.run(turned), turned.shape)
    reference = central_face(accurate.run(other), other.shape)
    assert face is not None and reference is not None
    assert face.usable
    similarity = cosine_similarity(face.require_embedding(), reference.require_embedding())
    assert similarity >= threshold_for(accurate, 1e-3)


@pytest.mark.parametrize(
    ("quarters", "a", "i", "b", "j"),
    [(1, *DIFFERENT_PEOPLE[0]), (3, *DIFFERENT_PEOPLE[0]), (2, *UPSIDE_DOWN_IMPOSTOR)],
)
def test_a_turned_photo_of_someone_else_stays_below_the_loosest_point(
    lfw_dir: Path, accurate: Pipeline, quarters: int, a: str, i: int, b: str, j: int
) -> None:
    turned = np.ascontiguousarray(np.rot90(_lfw(lfw_dir, a, i), quarters))
    other = _lfw(lfw_dir, b, j)
    face = central_face(accurate.run(turned), turned.shape)
    reference = central_face(accurate.run(other), other.shape)
    assert face is not None and reference is not None
    similarity = cosine_similarity(face.require_embedding(), reference.require_embedding())
    assert similarity < threshold_for(accurate, 1e-2)


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_the_face_comes_back_in_the_turned_images_own_pixels(lfw_dir: Path, quarters: int) -> None:
    # The box and landmarks found in the turned image are those found upright,
    # carried through the same quarter turns (within a few pixels: the pyramid
    # samples a turned image a little differently).
    upright = _lfw(lfw_dir, "Abel_Pacheco", 1)
    detector = QuarterTurns(MTCNN)
    [expected] = detector.detect(upright)
    turned = np.ascontiguousarray(np.rot90(upright, quarters))
    face = central_face(detector.detect(turned), turned.shape)
    assert face is not None
    back = turned_back(face.box, face.landmarks, quarters, turned.shape)
    assert back[0].iou(expected.box) > 0.85
    assert np.abs(back[1] - expected.landmarks).max() < 4.0


def test_an_upright_face_costs_no_retry(faces_dir: Path) -> None:
    # A clear upright face (MTCNN's score above the bar) is the inner detector's
    # answer as it is: the same faces, not a search of three more turns.
    image = imaging.decode(faces_dir / "face_recognition" / "tests" / "test_images" / "obama.jpg")
    inner = MTCNN
    plain, retried = inner.detect(image), QuarterTurns(inner).detect(image)
    assert [f.box for f in retried] == [f.box for f in plain]
    assert [f.detector_score for f in retried] == [f.detector_score for f in plain]


@pytest.mark.parametrize("quarters", [0, 1, 2, 3])
def test_onet_scores_a_faces_crop_highest_turned_the_way_that_stands_it_up(
    lfw_dir: Path, quarters: int
) -> None:
    # fast mode searches the turns only where an unclear face looks turned:
    # the face's box, found upright and carried into the turned photo, scores
    # highest in the column of the turn that undoes the photo's.
    upright = _lfw(lfw_dir, "Abel_Pacheco", 1)
    [face] = MTCNN.detect(upright)
    turned = np.ascontiguousarray(np.rot90(upright, quarters))
    box, _ = turned_back(face.box, face.landmarks, (4 - quarters) % 4, upright.shape)
    scores = MTCNN.turned_scores(turned, np.array([box.as_tuple()], np.float32))
    assert scores.shape == (1, 4)
    assert int(np.argmax(scores[0])) == (4 - quarters) % 4
    assert scores[0].max() > 0.9


@pytest.mark.parametrize("quarters", [0, 1, 2, 3])
def test_turned_back_undoes_numpys_quarter_turns_exactly(quarters: int) -> None:
    # Pixel (x, y) of the turned image holds the colour at the returned point of
    # the original, and a box covering pixels covers the same pixels there.
    rng = np.random.default_rng(quarters)
    image = rng.integers(0, 255, size=(37, 53, 3), dtype=np.uint8)
    turned = np.rot90(image, quarters)
    points = np.array(
        [[0, 0], [5, 9], [turned.shape[1] - 1, turned.shape[0] - 1], [3, 20], [12, 1]]
    )
    box = Box(2.0, 4.0, 11.0, 30.0)
    original_box, original_points = turned_back(box, points, quarters, turned.shape)
    for (x, y), (ox, oy) in zip(points, original_points.round().astype(int), strict=True):
        assert (turned[y, x] == image[oy, ox]).all()
    region = turned[4:30, 2:11]
    ob = [round(v) for v in original_box.as_tuple()]
    original_region = image[ob[1] : ob[3], ob[0] : ob[2]]
    assert np.array_equal(np.rot90(original_region, quarters), region)


def test_a_large_turned_photo_is_searched_small_and_answered_in_its_own_pixels(
    faces_dir: Path,
) -> None:
    # obama.jpg's short side (910 px) is over the 800 px the turns are searched
    # at: the face found there comes back at full size, where it is upright.
    image = imaging.decode(faces_dir / "face_recognition" / "tests" / "test_images" / "obama.jpg")
    detector = QuarterTurns(MTCNN)
    assert min(image.shape[:2]) > detector.work_side
    [expected] = MTCNN.detect(image)
    turned = np.ascontiguousarray(np.rot90(image, 3))
    face = central_face(detector.detect(turned), turned.shape)
    assert face is not None and face.detector_score >= detector.turned_score
    height, width = turned.shape[:2]
    assert 0 <= face.box.x_min < face.box.x_max <= width
    assert 0 <= face.box.y_min < face.box.y_max <= height
    box, landmarks = turned_back(face.box, face.landmarks, 3, turned.shape)
    assert box.iou(expected.box) > 0.85
    assert np.abs(landmarks - expected.landmarks).max() < 6.0
