"""The API tests' server: the real app under uvicorn, on a loopback socket, in a thread.

Each module gets its own deployment in a temporary folder and its own
server on 127.0.0.1, port chosen by the OS. API keys for every role are
issued through the access service before requests start. Real photos come
from ``../shared/data/faces`` (the root conftest skips without them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._live import EXAMPLES, FACES, KNN, LiveServer, serving


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server for the module, over a fresh deployment.

    Bad API keys are locked out after 200 per address, not 20: schemathesis
    sends one bad key to every operation (60 and more), all from 127.0.0.1.
    The lockout itself is tested at whatever the limit is (test_sessions).
    """
    with serving(tmp_path_factory.mktemp("live"), api_key_max_failures=200) as running:
        yield running


@pytest.fixture(scope="session")
def photos(faces_dir: Path) -> dict[str, Path]:
    """Real photos by a short name (skips without ../shared)."""
    return {
        "obama": EXAMPLES / "obama.jpg",
        "obama2": EXAMPLES / "obama2.jpg",
        "obama_probe": KNN / "test" / "obama1.jpg",
        "biden": EXAMPLES / "biden.jpg",
        "biden2": KNN / "train" / "biden" / "biden2.jpg",
        "two_people": EXAMPLES / "two_people.jpg",
        "obama_and_biden": KNN / "test" / "obama_and_biden.jpg",
        "stranger": EXAMPLES / "lin-manuel-miranda.png",
        "group": FACES / "dlib" / "examples" / "faces" / "2008_002470.jpg",
        "dogs": FACES / "dlib" / "examples" / "faces" / "dogs.jpg",
    }
