"""``facewarden keys rotate`` from the command line while a server runs on the same key directory.

Found with two real processes: the rotation re-wraps the deployment's own
data key (the one sealing camera sources) with the new master key, which the
running server had never loaded. Every camera listing and every camera with
a source then failed on that server with ``KeyMaterialError: master key
'mk-<new>' is not in <key dir>`` (a 500; its ingest supervisor could no
longer list the cameras either, so none was started, stopped or taken over)
until something else happened to reload the key directory. A server must
pick up a master key another process added.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .test_serve_postgres import start_serve


def _cli(*args: str, data: Path, keys: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    done = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", *args],
        env=environment | {"FACEWARDEN_DATA_DIR": str(data), "FACEWARDEN_KEY_DIR": str(keys)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_server_follows_a_master_key_rotation_made_from_the_command_line(
    tmp_path: Path,
) -> None:
    data, keys = tmp_path / "data", tmp_path / "keys"
    served = start_serve("--init", "--no-ingest", "--data-dir", data, "--key-dir", keys)
    try:
        with served.client(served.api_key()) as client:
            made = client.post(
                "/v1/cameras",
                json={"name": "gate", "location": "gate", "source": "rtsp://cam.example/gate"},
            )
            assert made.status_code == 201, made.text
            old = re.findall(r"mk-[0-9a-f]{8}", _cli("keys", "status", data=data, keys=keys))
            rotated = _cli("keys", "rotate", data=data, keys=keys)
            [new] = re.findall(r"new master key (mk-[0-9a-f]{8})", rotated)
            for key_id in old:
                _cli("keys", "destroy", key_id, "--yes", data=data, keys=keys)

            listed = client.get("/v1/cameras")
            assert listed.status_code == 200, listed.text
            assert [c["source_kind"] for c in listed.json()["cameras"]] == ["stream"]
            added = client.post(
                "/v1/cameras",
                json={"name": "yard", "location": "yard", "source": "rtsp://cam.example/yard"},
            )
            assert added.status_code == 201, added.text
        status = _cli("keys", "status", data=data, keys=keys)
        assert f"master key {new} (active)" in status
        assert _cli("check", data=data, keys=keys).strip().endswith("ok")
    finally:
        code = served.stop()
    assert code == 0
    assert "Traceback" not in "".join(served.err)
