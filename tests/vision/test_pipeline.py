"""The whole pipeline on real photos: quality, embeddings, decisions, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden import imaging
from facewarden.errors import ConfigError, ImageError, ImageTooLargeError
from facewarden.match.similarity import cosine_similarity
from facewarden.match.thresholds import threshold_for
from facewarden.vision.align import align, mirror
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import Pipeline, _groups, central_face, is_usable

SAME_PERSON = [
    ("obama.jpg", "obama2.jpg"),
    ("obama.jpg", "obama3.jpg"),
    ("obama2.jpg", "obama3.jpg"),
]
DIFFERENT_PEOPLE = [
    ("obama.jpg", "biden.jpg"),
    ("obama2.jpg", "biden.jpg"),
    ("obama3.jpg", "biden.jpg"),
]


@pytest.fixture(scope="module")
def embeddings(faces_dir: Path) -> dict[tuple[str, str], np.ndarray]:
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    result = {}
    for mode in ("fast", "accurate"):
        pipeline = Pipeline.from_mode(mode)
        for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
            image = imaging.decode(folder / name)
            face = central_face(pipeline.run(image), image.shape)
            assert face is not None and face.usable
            result[mode, name] = face.require_embedding()
    return result


@pytest.mark.parametrize("mode", ["fast", "accurate"])
@pytest.mark.parametrize(("a", "b"), SAME_PERSON)
def test_same_person_scores_above_the_threshold(embeddings, mode, a, b) -> None:
    threshold = threshold_for(Pipeline.from_mode(mode), 1e-3)
    assert cosine_similarity(embeddings[mode, a], embeddings[mode, b]) >= threshold


@pytest.mark.parametrize("mode", ["fast", "accurate"])
@pytest.mark.parametrize(("a", "b"), DIFFERENT_PEOPLE)
def test_different_people_score_below_the_threshold(embeddings, mode, a, b) -> None:
    # FMR 1e-2 is the loosest calibrated point: if even it rejects the pair,
    # every stricter operating point does too.
    threshold = threshold_for(Pipeline.from_mode(mode), 1e-2)
    assert cosine_similarity(embeddings[mode, a], embeddings[mode, b]) < threshold


def test_embeddings_are_unit_vectors_of_128(embeddings) -> None:
    for vector in embeddings.values():
        assert vector.shape == (128,) and vector.dtype == np.float32
        assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_rgba_input_gives_the_same_face_as_rgb(faces_dir: Path) -> None:
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    pipeline = Pipeline.from_mode("fast")
    rgba = pipeline.run(imaging.decode(folder / "32bit.png"))
    rgb = pipeline.run(imaging.decode(folder / "obama2.jpg"))
    assert len(rgba) == len(rgb) == 1
    similarity = cosine_similarity(rgba[0].require_embedding(), rgb[0].require_embedding())
    assert similarity > 0.99  # same photo; only JPEG vs PNG encoding differs


def test_alignment_is_pure_and_sized_for_the_embedder(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    # The portrait's face (the small-face detector also reports a 56 px blur in a corner).
    face = central_face(Pipeline.from_mode("fast").run(image, embed=False), image.shape)
    assert face is not None
    chip = align(image, face.landmarks)
    again = align(image.copy(), face.landmarks.copy())
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert np.array_equal(chip, again)
    assert np.array_equal(mirror(mirror(chip)), chip)
    with pytest.raises(ValueError, match="shape"):
        align(image, np.zeros((68, 2), dtype=np.float32))


def test_small_faces_are_reported_unusable_with_a_reason(faces_dir: Path) -> None:
    folder = faces_dir / "dlib" / "examples" / "faces"
    faces = Pipeline.from_mode("fast").run(imaging.decode(folder / "2007_007763.jpg"), embed=False)
    small = [f for f in faces if f.quality is not None and f.quality.face_px < 40]
    assert small, "this photo's annotated faces are 37 px: some should be below 40 px"
    for face in small:
        assert not face.usable
        assert any("below the 40 px minimum" in r for r in face.quality.reasons)


def test_is_usable_embeds_the_usable_faces_only_in_workers_too(faces_dir: Path) -> None:
    # A group photo whose faces straddle the 40 px minimum (2 of its 8 pass).
    path = faces_dir / "dlib" / "examples" / "faces" / "2007_007763.jpg"
    image = imaging.decode(path)
    pipeline = Pipeline.from_mode("fast")
    faces = pipeline.run(image, embed=is_usable)
    unusable = [f for f in faces if not f.usable]
    assert unusable and len(unusable) < len(faces)
    for face in faces:
        assert (face.embedding is not None) == face.usable
        assert face.usable or (face.quality is not None and face.quality.reasons)
    everything = pipeline.run(image)
    for chosen, every in zip(faces, everything, strict=True):
        if chosen.embedding is not None:  # the same vector as when every face is embedded
            np.testing.assert_array_equal(chosen.embedding, every.require_embedding())
    # The predicate reaches the worker processes (by name: it is a module-level function).
    (item,) = run_batch(pipeline, [path], workers=2, embed=is_usable)
    assert [f.embedding is not None for f in item.faces] == [f.usable for f in faces]


def test_central_face_prefers_the_subject_over_a_bystander(faces_dir: Path) -> None:
    image = imaging.decode(
        faces_dir
        / "face_recognition"
        / "examples"
        / "knn_examples"
        / "test"
        / "obama_and_biden.jpg"
    )
    faces = Pipeline.from_mode("fast").run(image, embed=False)
    chosen = central_face(faces, image.shape)
    assert chosen is not None
    # The child at the bottom right is the smallest face and off-centre.
    assert chosen.box.area == max(f.box.area for f in faces) or chosen.box.center[0] < 1500


def test_run_many_gives_what_run_gives_on_each_image(faces_dir: Path) -> None:
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    images = [imaging.decode(folder / n) for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    pipeline = Pipeline.from_mode("fast")
    for embed in (True, False, lambda face: face.box.x_min > 300):
        together = pipeline.run_many(images, embed=embed)
        for image, faces in zip(images, together, strict=True):
            alone = pipeline.run(image, embed=embed)
            assert [f.box for f in faces] == [f.box for f in alone]
            for f, a in zip(faces, alone, strict=True):
                assert (f.embedding is None) == (a.embedding is None)
                if f.embedding is not None and a.embedding is not None:
                    # One embedding batch for all images: the same bits as one per image.
                    np.testing.assert_array_equal(f.embedding, a.embedding)
    embedded = [f.embedding is not None for faces in together for f in faces]
    assert any(embedded) and not all(embedded)  # the predicate chose some faces


def test_embed_faces_gives_the_embeddings_run_gives(faces_dir: Path) -> None:
    # A caller that picks faces before embedding them (CompreFace's limit) gets the
    # same embeddings as run()'s, detected or cropped, for any subset of the faces.
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "two_people.jpg")
    pipeline = Pipeline.from_mode("fast")
    embedded = pipeline.run(image)
    bare = pipeline.run(image, embed=False)
    assert len(bare) == 2 and all(f.embedding is None for f in bare)
    [second] = pipeline.embed_faces(image, bare[1:])
    assert second.box == embedded[1].box and second.quality == embedded[1].quality
    np.testing.assert_allclose(
        second.require_embedding(), embedded[1].require_embedding(), atol=1e-6
    )
    cropped = pipeline.embed_faces(image, [pipeline.run_cropped(image, embed=False)])
    np.testing.assert_allclose(
        cropped[0].require_embedding(), pipeline.run_cropped(image).require_embedding(), atol=1e-6
    )
    assert pipeline.embed_faces(image, []) == []


def test_run_many_detects_large_photos_apart(faces_dir: Path) -> None:
    # Three 1.1 to 2.1 MP photos: no group of them fits the pixels allowed together.
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    images = [imaging.decode(folder / n) for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    groups = list(_groups(images, 2_500_000))
    assert [len(g) for g in groups] == [1, 1, 1]
    assert [len(g) for g in _groups(images, 10_000_000)] == [3]
    assert [g[0] is i for g, i in zip(groups, images, strict=True)] == [True, True, True]


def test_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fast, accurate"):
        Pipeline.from_mode("turbo")


@pytest.mark.parametrize("mode", ["fast", "accurate"])
@pytest.mark.parametrize("shape", [(0, 10), (10, 0), (5, 5), (3, 200), (15, 400)])
def test_an_array_too_small_to_hold_a_face_has_none(mode: str, shape: tuple[int, int]) -> None:
    # Found by hand through the library API: an empty array raised ZeroDivisionError
    # in accurate mode's cascade, and a 5x5 or 3x200 one a ModelError (with ONNX
    # Runtime's error on the log) from the CNN fallback; imaging.decode refuses such
    # images, but arrays reach Pipeline.run without it (a caller's own crops).
    assert Pipeline.from_mode(mode).run(np.zeros((*shape, 3), np.uint8)) == []


NOT_RGB: list[tuple[str, object, str]] = [
    ("a path", "obama.jpg", "got a str: decode a file with pipeline.decode"),
    ("bytes", b"\xff\xd8\xff", "got a bytes: decode a file with pipeline.decode"),
    ("None", None, "got a NoneType"),
    ("a list", [[0, 0, 0]], "got a list"),
    ("a batch", np.zeros((1, 64, 64, 3), np.uint8), "got shape (1, 64, 64, 3) uint8"),
    ("grey", np.zeros((64, 64), np.uint8), "imaging.to_rgb"),
    ("RGBA", np.zeros((64, 64, 4), np.uint8), "imaging.to_rgb"),
    ("float", np.zeros((64, 64, 3), np.float32), "got shape (64, 64, 3) float32"),
    ("objects", np.array([[None]]), "got shape (1, 1) object"),
]


@pytest.mark.parametrize(
    ("image", "phrase"), [case[1:] for case in NOT_RGB], ids=[case[0] for case in NOT_RGB]
)
def test_what_is_not_an_rgb_array_is_an_image_error(image: object, phrase: str) -> None:
    # Found by probing the library: run("photo.jpg") raised AttributeError ('str'
    # object has no attribute 'shape'), RGBA a bare ValueError, and a batch of one
    # (1, H, W, 3) or an object array gave no faces at all, unsaid.
    pipeline = Pipeline.from_mode("fast")
    for call in (lambda: pipeline.run(image), lambda: pipeline.run_many([image])):  # type: ignore[arg-type]
        with pytest.raises(ImageError) as info:
            call()
        assert phrase in info.value.message
        assert info.value.message.startswith("run() takes an RGB image")


def test_any_uint8_rgb_array_is_taken_as_it_is(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    pipeline = Pipeline.from_mode("fast")
    expected = [face.box for face in pipeline.run(image, embed=False)]
    assert len(expected) == 1
    readonly = image.copy()
    readonly.setflags(write=False)
    for variant in (
        readonly,
        np.asfortranarray(image),
        np.pad(image, ((0, 0), (0, 8), (0, 0)))[:, :-8],
    ):
        assert [face.box for face in pipeline.run(variant, embed=False)] == expected


def test_an_array_over_the_pixel_cap_is_refused_as_an_upload_is(faces_dir: Path) -> None:
    # Found by probing the library: run() took a numpy array of any size (an
    # upload is capped at max_pixels, an array was not), so a caller's 100 MP
    # frame went whole through detection. The same cap, the same typed error.
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    height, width = image.shape[:2]
    capped = Pipeline(limits=imaging.ImageLimits(max_pixels=height * width - 1))
    for call in (
        lambda: capped.run(image),
        lambda: capped.run_many([image]),
        lambda: capped.run_cropped(image),
        lambda: capped.embed_faces(image, []),
    ):
        with pytest.raises(ImageTooLargeError) as info:
            call()
        assert f"{width}x{height}" in info.value.message
        assert str(height * width - 1) in info.value.message
    at_cap = Pipeline(limits=imaging.ImageLimits(max_pixels=height * width))
    assert len(at_cap.run(image, embed=False)) == 1


def test_a_huge_array_view_is_refused_before_any_work() -> None:
    # 60,000 x 60,000 pixels seen through a broadcast view: no memory behind it,
    # so only the cap stops detection from allocating gigabytes for it.
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (60_000, 60_000, 3))
    with pytest.raises(ImageTooLargeError, match="over the limit of 40000000"):
        Pipeline.from_mode("fast").run(huge)
