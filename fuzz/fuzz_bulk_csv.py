"""The bulk-import CSV reader (``service/bulk.items_from_csv``).

Promise: any file gives, per row, either a valid record with its photo paths
or the reason it cannot be imported; a bad header is an ``InvalidInputError``;
nothing else escapes and nothing is half-read.
"""

from __future__ import annotations

from fuzz._scratch import scratch_dir
from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.service.bulk", "facewarden.service.records", "csv"):
    from facewarden.errors import FacewardenError
    from facewarden.service.bulk import items_from_csv
    from facewarden.service.records import SubjectRecord

ROOT = scratch_dir("csv")
CSV = ROOT / "people.csv"


def test_one_input(data: bytes) -> None:
    CSV.write_bytes(data)
    try:
        items = list(items_from_csv(CSV, lawful_basis="consent"))
    except FacewardenError:
        return
    for item in items:
        assert (item.record is None) != (item.problem is None), item
        if item.record is not None:
            assert isinstance(item.record, SubjectRecord) and item.photos
            assert item.record.full_name and item.record.lawful_basis
        assert item.source.startswith(str(CSV))


if __name__ == "__main__":
    fuzz_main(test_one_input)
