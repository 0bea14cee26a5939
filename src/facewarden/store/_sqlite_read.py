"""SQLite's time text under its former module's name, for one import kept as it was.

The contract suite's cameras tests (``tests/store/test_cameras_contract.py``,
which stay unchanged) write a version-3 row with ``ts_text`` imported from
here; the stores themselves import it from :mod:`facewarden.store._dialect`.
"""

from facewarden.store._dialect import ts_parse, ts_text

__all__ = ["ts_parse", "ts_text"]
