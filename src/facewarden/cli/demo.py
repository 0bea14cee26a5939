"""``facewarden demo`` (``make demo``): a first look at detection and comparison, no deployment.

Detects the faces in a photo and compares people, on the shared test photos
when they are beside the repository, or on images you name.
"""

from __future__ import annotations

from pathlib import Path

import click

from facewarden.errors import ConfigError
from facewarden.match.similarity import cosine_similarity
from facewarden.match.thresholds import threshold_for
from facewarden.vision.pipeline import Pipeline, central_face

__all__ = ["demo"]

_SHARED_EXAMPLES = Path("shared/data/faces/face_recognition/examples")


def _shared_examples() -> Path | None:
    # The repository's parent holds shared/ on the team's and CI's machines.
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base.parent / _SHARED_EXAMPLES
        if candidate.is_dir():
            return candidate
    return None


@click.command()
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def demo(images: tuple[Path, ...]) -> None:
    """Detect faces in the first image and compare the main face of every pair of IMAGES.

    Without IMAGES, uses the shared example photos when they are present.
    """
    if not images:
        examples = _shared_examples()
        if examples is None:
            raise ConfigError(
                "no images given and ../shared/data/faces is absent; "
                "run `facewarden demo PHOTO_A.jpg PHOTO_B.jpg ...`"
            )
        images = tuple(
            examples / n for n in ("two_people.jpg", "obama.jpg", "obama2.jpg", "biden.jpg")
        )
    fast = Pipeline.from_mode("fast")
    image = fast.decode(images[0], name=str(images[0]))
    faces = fast.run(image, embed=False)
    click.echo(f"detect (fast mode): {images[0].name}: {len(faces)} face(s)")
    for number, face in enumerate(faces, start=1):
        x0, y0, x1, y1 = (round(v) for v in face.box.as_tuple())
        click.echo(f"  {number}. box=({x0},{y0},{x1},{y1}) score={face.detector_score:.2f}")
    accurate = Pipeline.from_mode("accurate")
    threshold = threshold_for(accurate, 1e-3)
    embeddings = {}
    for path in images[1:] if len(images) > 2 else images:
        decoded = accurate.decode(path, name=str(path))
        central = central_face(accurate.run(decoded), decoded.shape)
        if central is None:
            click.echo(f"  {path.name}: no face found")
            continue
        embeddings[path.name] = central.require_embedding()
    click.echo(f"compare (accurate mode, threshold {threshold:.3f} at FMR 1e-3):")
    names = list(embeddings)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            similarity = cosine_similarity(embeddings[a], embeddings[b])
            verdict = "same person" if similarity >= threshold else "different people"
            click.echo(f"  {a} vs {b}: similarity {similarity:.3f} -> {verdict}")
