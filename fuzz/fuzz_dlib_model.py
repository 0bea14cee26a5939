"""The converter's reader of dlib model files (``convert/dlib_format.parse_network``).

Model files come from outside (a download, a user's path). Promise: any bytes
give a network whose shapes agree, or a ``ModelError`` naming where the file
stops making sense; no huge allocation from a length field, no hang.
"""

from __future__ import annotations

from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.convert.dlib_format", "facewarden.convert.dlib_serialize"):
    from facewarden.convert.dlib_format import parse_network
    from facewarden.errors import ModelError


def test_one_input(data: bytes) -> None:
    try:
        network = parse_network(data, source="fuzz.dat")
    except ModelError:
        return
    assert network.layers and len(network.sha256) == 64


if __name__ == "__main__":
    fuzz_main(test_one_input)
