"""The pgvector gallery (``gallery_index = "pgvector"``): the database is the index.

Real people enrolled on PostgreSQL are identified by the pgvector gallery
with the same answers as the in-memory one over the same database; erasure,
watchlist removal and template rotation act through the store's
``face_vectors``; a second server sees an enrollment at once; nothing is
decrypted at start; faces stored before the table are copied in; and on a
bulk-loaded table the search query runs on the HNSW index.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from facewarden.errors import ConfigError, NotFoundError
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.gallery_pg import PgVectorGallery
from facewarden.service.recognition_results import Identification
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store._pg_vectors import nearest_faces_sql, vector_literal
from facewarden.store.base import FaceRow, SubjectRow
from facewarden.store.postgres import PostgresStore, open_postgres
from facewarden.types import Face

from ._data import KNN, KNN_EXPECTED
from .conftest import make_settings

TRAIN = KNN / "train"
TEST = KNN / "test"
PEOPLE = sorted(p.name for p in TRAIN.iterdir() if p.is_dir())
Detect = Callable[[Path, str], list[Face]]


@pytest.fixture
def url(pg_server: EmbeddedPostgres) -> str:
    return pg_server.create_database(f"g_{secrets.token_hex(6)}")


def _identify(warden: Warden, detect: Detect, photo: str, watchlist: str) -> Identification:
    faces = detect(TEST / photo, warden.settings.mode)
    return warden.recognition.identify_faces(faces, watchlist, top_k=3)


def _best(result: Identification) -> list[tuple[str, float] | None]:
    return [
        (f.candidates[0].subject_id, f.candidates[0].similarity) if f.candidates else None
        for f in result.faces
    ]


def _vectors_of(url: str, subject_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM face_vectors WHERE subject_id = %s", (subject_id,)
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_it_answers_as_the_in_memory_gallery_and_follows_every_change(
    url: str,
    tmp_path: Path,
    clock: ManualClock,
    enroll: Callable[..., object],
    detect: Detect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(tmp_path, database_url=url, gallery_index="pgvector")
    exact = make_settings(tmp_path, database_url=url, gallery_index="exact")
    with (
        Warden.open(settings, clock=clock, create=True, actor="test:pg") as warden,
        Warden.open(exact, clock=clock, actor="test:mem") as memory,
        Warden.open(settings, clock=clock, actor="test:other") as other,
    ):
        assert isinstance(warden._ctx.gallery, PgVectorGallery)
        assert type(memory._ctx.gallery).__name__ == "Gallery"
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        warden.watchlists.create("visitors", purpose="test", lawful_basis="test")
        # The other server has searched (its gallery is "loaded") before the enrollments.
        assert _identify(other, detect, "obama1.jpg", "staff").matched_subjects == ()
        ids = {
            name: enroll(
                warden, name, sorted((TRAIN / name).iterdir()), watchlists=["staff"]
            ).subject_id  # type: ignore[attr-defined]
            for name in PEOPLE
        }
        name_of = {v: k for k, v in ids.items()}
        assert warden.warm_up() == memory.warm_up() == 9  # templates, over every watchlist

        # The same answers as the in-memory gallery, and the right people.
        for photo, people in KNN_EXPECTED.items():
            pg = _identify(warden, detect, photo, "staff")
            mem = _identify(memory, detect, photo, "staff")
            for got, want in zip(_best(pg), _best(mem), strict=True):
                assert (got is None) == (want is None)
                if got is not None and want is not None:
                    assert got[0] == want[0], photo
                    assert got[1] == pytest.approx(want[1], abs=1e-5), photo
            found = sorted(name_of[s] for s in pg.matched_subjects)
            assert found == sorted(p for p in people if p is not None), photo
        # ... and a second server finds them at once.
        assert _identify(other, detect, "obama1.jpg", "staff").matched_subjects == (ids["obama"],)

        # Off one watchlist: not found there, still found on the other.
        warden.watchlists.add("visitors", ids["obama"])
        warden.watchlists.remove("staff", ids["obama"])
        assert ids["obama"] not in {
            c.subject_id
            for c in _identify(warden, detect, "obama1.jpg", "staff").faces[0].candidates
        }
        before = _best(_identify(warden, detect, "obama1.jpg", "visitors"))
        assert before[0] is not None and before[0][0] == ids["obama"]

        # Template rotation re-writes the vectors in its transaction: still identified.
        with psycopg.connect(url) as conn:
            old = conn.execute(
                "SELECT embedding::text FROM face_vectors ORDER BY face_id"
            ).fetchall()
        rotation = warden.keys.rotate_templates()
        assert rotation.templates == 9
        with psycopg.connect(url) as conn:
            new = conn.execute(
                "SELECT embedding::text FROM face_vectors ORDER BY face_id"
            ).fetchall()
        assert len(new) == 9 and not set(old) & set(new)
        after = _best(_identify(warden, detect, "obama1.jpg", "visitors"))
        assert after[0] is not None and after[0][0] == ids["obama"]
        assert after[0][1] == pytest.approx(before[0][1], abs=1e-4)
        seen = _best(_identify(other, detect, "obama1.jpg", "visitors"))[0]
        assert seen is not None and seen[0] == ids["obama"]
        assert seen[1] == pytest.approx(after[0][1], abs=1e-6)

        # Erasure cascades to the vectors: gone from the table and from every search.
        assert _vectors_of(url, ids["biden"]) == 2
        warden.registry.erase(ids["biden"])
        assert _vectors_of(url, ids["biden"]) == 0
        for server in (warden, other):
            result = _identify(server, detect, "obama_and_biden.jpg", "staff")
            assert ids["biden"] not in {c.subject_id for f in result.faces for c in f.candidates}

    # Faces stored before face_vectors existed are copied in once, then nothing is decrypted.
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM face_vectors")
    with Warden.open(settings, clock=clock, actor="test:backfill") as warden:
        assert warden.warm_up() == 7
        assert _vectors_of(url, ids["obama"]) == 2
    monkeypatch.setattr(
        "facewarden.service.gallery_pg.open_template",
        lambda *a, **k: pytest.fail("a template was decrypted at start"),
    )
    with Warden.open(settings, clock=clock, actor="test:restart") as warden:
        assert warden.warm_up() == 7
        result = _identify(warden, detect, "obama1.jpg", "visitors")
        assert result.matched_subjects == (ids["obama"],)


def test_sqlite_refuses_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the PostgreSQL store"):
        Warden.open(make_settings(tmp_path, gallery_index="pgvector"), create=True)


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    opened = open_postgres(url, create=True)
    yield opened
    opened.close()


def test_the_search_uses_the_hnsw_index_on_a_large_table(store: PostgresStore, url: str) -> None:
    n, dim = 20_000, 128
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(
            "INSERT INTO subjects SELECT 's' || lpad(i::text, 6, '0'), '\\x00', NULL, %s, %s "
            "FROM generate_series(0, %s - 1) i",
            (now, now, n),
        )
        conn.execute(
            "INSERT INTO faces SELECT 'f' || substr(subject_id, 2), subject_id, "
            "'dlib-resnet+mirror', '\\x00', created_at FROM subjects"
        )
        conn.execute("INSERT INTO watchlists VALUES ('wl_big', 'big', 't', 't', 0.001, %s)", (now,))
        conn.execute(
            "INSERT INTO memberships SELECT 'wl_big', subject_id, %s FROM subjects", (now,)
        )
        with conn.cursor().copy(
            "COPY face_vectors (face_id, subject_id, model, embedding) FROM STDIN (FORMAT binary)"
        ) as copy:
            copy.set_types(["text", "text", "text", "vector"])
            for i, vector in enumerate(vectors):
                copy.write_row((f"f{i:06d}", f"s{i:06d}", "dlib-resnet+mirror", vector))
    store.analyze_face_vectors()  # statistics now, as after the gallery's backfill

    probe = vectors[1234] + 0.05 * rng.standard_normal(dim).astype(np.float32)
    probe /= np.linalg.norm(probe)
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        cursor = psycopg.ClientCursor(conn)
        cursor.execute(
            "EXPLAIN " + nearest_faces_sql(dim),
            {"p": vector_literal(probe), "e": "dlib-resnet", "w": "wl_big", "n": 100},
        )
        plan = "\n".join(str(r[0]) for r in cursor.fetchall())
    assert "face_vectors_hnsw_128" in plan, plan

    gallery = PgVectorGallery(store, dim, "dlib-resnet")
    [hits] = gallery.search("wl_big", probe[np.newaxis], 5)
    exact = vectors @ probe
    assert hits[0].group == "s001234" and hits[0].key == "f001234"
    assert hits[0].similarity == pytest.approx(float(exact[1234]), abs=1e-5)
    assert len({h.group for h in hits}) == 5
    assert gallery.size("wl_big") == n and gallery.search("wl_none", probe[np.newaxis], 5) == [[]]


def test_face_vectors_follow_their_faces(
    store: PostgresStore, url: str, pg_server: EmbeddedPostgres
) -> None:
    now = datetime.now(UTC)
    vector = np.arange(1, 129, dtype=np.float32) / 100
    with store.transaction() as tx:
        tx.insert_subject(SubjectRow("sub_a", b"\x00", None, {}, now, now))
        tx.insert_face(FaceRow("face_a", "sub_a", "dlib-resnet+mirror", b"\x00", now))
        tx.put_face_vector("face_a", vector * 2)
        tx.put_face_vector("face_a", vector)  # replaced, as template rotation does
        with pytest.raises(NotFoundError):
            tx.put_face_vector("face_missing", vector)

    def stored(where: str) -> list[tuple[str, str, str, str]]:
        with psycopg.connect(where) as conn:
            rows = conn.execute(
                "SELECT face_id, subject_id, model, embedding::text FROM face_vectors"
            ).fetchall()
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]

    [(face, subject, model, text)] = stored(url)
    assert (face, subject, model) == ("face_a", "sub_a", "dlib-resnet+mirror")
    assert np.array_equal(np.array(text.strip("[]").split(","), dtype=np.float32), vector)
    # A backup leaves the table out: it holds the protected templates unencrypted,
    # and is rebuilt from the encrypted ones by the pgvector gallery.
    destination = pg_server.url(f"b_{secrets.token_hex(6)}")
    store.backup(destination)
    assert stored(destination) == [] and stored(url) != []
    with store.transaction() as tx:
        assert tx.delete_face("face_a")
    assert stored(url) == []
