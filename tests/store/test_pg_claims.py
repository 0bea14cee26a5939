"""Cameras shared among workers through advisory locks, on the session's real PostgreSQL.

Nothing here waits for time to pass: a worker's death is a server session
terminated synchronously (the call returns once the backend, and its locks,
are gone), and every other step is a call whose outcome the locks decide.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest

from facewarden.errors import FacewardenError
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.pg_claims import CameraClaims

CAMERAS = [f"cam_{i}" for i in range(6)]


@pytest.fixture
def url(pg_server: EmbeddedPostgres) -> str:
    return pg_server.create_database(f"c_{secrets.token_hex(6)}")


def _terminate(url: str, worker_id: str) -> None:
    """End a worker's server session, returning only once the server has dropped it.

    ``pg_terminate_backend`` alone only signals the backend, which drops its
    advisory locks when it gets round to exiting: whether the survivors saw
    them gone would be a race. Given a timeout, it waits until the backend
    has left the server (its locks released before that); the timeout only
    bounds a failure, it decides nothing.
    """
    with psycopg.connect(url, autocommit=True) as admin:
        pids = [
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (f"facewarden-worker {worker_id}",),
            )
        ]
        assert len(pids) == 1, pids
        ended = admin.execute("SELECT pg_terminate_backend(%s, 60000)", (pids[0],)).fetchone()
        assert ended == (True,), "the worker's backend did not exit within a minute"
        held = admin.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", (pids[0],)).fetchone()
        assert held == (0,)


def _rebalance_all(workers: list[CameraClaims]) -> None:
    # Two rounds: a worker releases its extras in one, others pick them up in the next.
    for _ in range(2):
        for worker in workers:
            worker.rebalance(CAMERAS)


def test_each_camera_is_held_by_exactly_one_worker_and_the_dead_ones_are_taken_over(
    url: str,
) -> None:
    workers = [CameraClaims(url, f"w{i}") for i in range(3)]
    try:
        _rebalance_all(workers)
        held = [w.held for w in workers]
        assert [len(h) for h in held] == [2, 2, 2]
        assert set().union(*held) == set(CAMERAS)
        # Kill one worker the hard way: its server session is terminated.
        _terminate(url, "w1")
        survivors = [workers[0], workers[2]]
        _rebalance_all(survivors)
        assert [len(w.held) for w in survivors] == [3, 3]
        assert workers[0].held | workers[2].held == set(CAMERAS)
        assert not workers[0].held & workers[2].held
    finally:
        for worker in workers:
            worker.close()


def test_a_claimed_camera_cannot_be_claimed_twice_and_release_frees_it(url: str) -> None:
    a, b = CameraClaims(url, "a"), CameraClaims(url, "b")
    try:
        assert a.try_claim("cam_x") and a.try_claim("cam_x")
        assert not b.try_claim("cam_x")
        a.release("cam_x")
        assert b.try_claim("cam_x")
        assert a.live_workers() == 2
        with pytest.raises(FacewardenError, match="already calls itself"):
            CameraClaims(url, "a")
    finally:
        a.close()
        b.close()
    assert a.held == frozenset()


def test_a_camera_is_released_only_once_its_processing_stopped(url: str) -> None:
    a = CameraClaims(url, "a")
    b: CameraClaims | None = None
    try:
        assert a.rebalance(CAMERAS[:2]) == set(CAMERAS[:2])
        b = CameraClaims(url, "b")
        asked: list[str] = []

        def not_yet(camera_id: str) -> bool:
            asked.append(camera_id)
            return False

        # The second camera leaves the list; its processing will not stop yet: kept.
        assert a.rebalance(CAMERAS[:1], not_yet) == set(CAMERAS[:2])
        assert set(asked) == {CAMERAS[1]}
        assert not b.try_claim(CAMERAS[1])
        # Now it does: released, and free for another worker.
        assert a.rebalance(CAMERAS[:1], lambda c: c == CAMERAS[1]) == {CAMERAS[0]}
        assert b.try_claim(CAMERAS[1])
    finally:
        a.close()
        if b is not None:
            b.close()
