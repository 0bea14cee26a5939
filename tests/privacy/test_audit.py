"""The hash-chained audit log: every break is found and named (promise 17)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facewarden.errors import IntegrityError
from facewarden.privacy import (
    GENESIS_HASH,
    AuditChain,
    AuditEntry,
    KeyRing,
    ManualClock,
    canonical_bytes,
    check_details,
)

KEY = bytes(range(32))
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def build(chain: AuditChain, n: int, clock: ManualClock | None = None) -> list[AuditEntry]:
    clock = clock or ManualClock(START)
    entries: list[AuditEntry] = []
    for i in range(n):
        clock.advance(timedelta(seconds=1, microseconds=7))
        entries.append(
            chain.make_entry(
                entries[-1] if entries else None,
                clock=clock,
                actor=f"user:op{i % 3}",
                action="identify" if i % 2 else "subject.read",
                object_type="subject",
                object_id=f"sub_{i:04x}",
                purpose="case:2024-117",
                outcome="ok",
                details={"candidates": i % 5, "watchlist": "wl_1", "results": [f"sub_{i:04x}"]},
            )
        )
    return entries


@pytest.fixture
def chain() -> AuditChain:
    return AuditChain(KEY)


@pytest.fixture
def log(chain: AuditChain) -> list[AuditEntry]:
    return build(chain, 20)


def test_a_chain_of_twenty_verifies(chain: AuditChain, log: list[AuditEntry]) -> None:
    report = chain.verify(log)
    assert report.ok and report.checked == 20
    assert report.first_bad_seq is None and report.problem is None
    assert [e.seq for e in log] == list(range(1, 21))
    assert log[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(log))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", log[0].ts)
    assert log[0].ts == "2024-05-01T12:00:01.000007Z"
    assert log[0].time == START + timedelta(seconds=1, microseconds=7)


def test_the_chain_is_keyed_with_the_keyring_audit_key(keyring: KeyRing) -> None:
    ours = build(AuditChain.from_keyring(keyring), 3)
    assert AuditChain.from_keyring(KeyRing.open(keyring.path)).verify(ours).ok
    assert not AuditChain(KEY).verify(ours).ok
    assert "key" not in repr(AuditChain(KEY)).replace("key=<hidden>", "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "user:someone-else"),
        ("action", "subject.erase"),
        ("object_id", "sub_ffff"),
        ("purpose", ""),
        ("outcome", "denied"),
        ("ts", "2024-05-01T12:00:07.500000Z"),
        ("details", {"candidates": 0, "watchlist": "wl_1", "results": ["sub_0006"]}),
    ],
)
def test_a_tampered_entry_is_named(
    chain: AuditChain, log: list[AuditEntry], field: str, value: Any
) -> None:
    log[6] = replace(log[6], **{field: value})
    report = chain.verify(log)
    assert not report.ok and report.first_bad_seq == 7 and report.checked == 6
    assert report.problem is not None and report.problem.startswith("tampered: entry 7")


@pytest.mark.parametrize("seq", [1, 10, 19])  # first, middle, last-but-one
def test_a_deleted_entry_is_named(chain: AuditChain, log: list[AuditEntry], seq: int) -> None:
    del log[seq - 1]
    report = chain.verify(log)
    assert (report.ok, report.first_bad_seq) == (False, seq)
    assert report.problem == f"deleted: entry {seq} is missing before entry {seq + 1}"


def test_several_deleted_entries_are_named_as_a_range(
    chain: AuditChain, log: list[AuditEntry]
) -> None:
    del log[4:8]
    report = chain.verify(log)
    assert report.first_bad_seq == 5
    assert report.problem == "deleted: entry 5..8 is missing before entry 9"


def test_a_truncated_tail_needs_a_high_water_mark(chain: AuditChain, log: list[AuditEntry]) -> None:
    # The documented limit: a chain cut short is still a valid chain ...
    assert chain.verify(log[:-2]).ok
    # ... unless the caller knows how far the log went.
    report = chain.verify(log[:-2], last_seq=20)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 19, 18)
    assert report.problem is not None and "truncated" in report.problem
    assert chain.verify(log, last_seq=20).ok


@pytest.mark.parametrize(("a", "b"), [(5, 6), (5, 12), (1, 20)])
def test_reordered_entries_are_named(
    chain: AuditChain, log: list[AuditEntry], a: int, b: int
) -> None:
    log[a - 1], log[b - 1] = log[b - 1], log[a - 1]
    report = chain.verify(log)
    assert (report.ok, report.first_bad_seq) == (False, a)
    assert report.problem == f"reordered: entry {a} is stored after entry {b}"


def test_a_replayed_entry_is_reordering(chain: AuditChain, log: list[AuditEntry]) -> None:
    log.insert(9, log[3])
    report = chain.verify(log)
    assert (report.first_bad_seq, report.problem) == (
        4,
        "reordered: entry 4 is stored after entry 9",
    )


def test_rewriting_hashes_without_the_key_is_caught(
    chain: AuditChain, log: list[AuditEntry]
) -> None:
    def plain_sha256(entry: AuditEntry) -> str:
        return hashlib.sha256(canonical_bytes(entry)).hexdigest()

    def wrong_key(entry: AuditEntry) -> str:
        return hmac.new(b"\x01" * 32, canonical_bytes(entry), hashlib.sha256).hexdigest()

    for forge in (plain_sha256, wrong_key):
        forged = list(log)
        # Edit entry 8, then re-link everything after it as a key-less attacker would.
        for i in range(7, 20):
            prev_hash = forged[i - 1].entry_hash
            entry = replace(forged[i], prev_hash=prev_hash)
            if i == 7:
                entry = replace(entry, object_id="sub_beef")
            forged[i] = replace(entry, entry_hash=forge(entry))
        report = chain.verify(forged)
        assert report.first_bad_seq == 8
        assert report.problem is not None and report.problem.startswith("tampered")


def test_a_broken_link_with_valid_hashes_is_deletion(
    chain: AuditChain, log: list[AuditEntry]
) -> None:
    # Only the key holder can do this (e.g. a forked writer): entry 10 links to
    # a different entry 9 than the stored one.
    clock = ManualClock(datetime(2024, 5, 1, 13, tzinfo=UTC))
    other_nine = chain.make_entry(log[7], clock=clock, actor="user:x", action="a")
    other_ten = chain.make_entry(other_nine, clock=clock, actor="user:x", action="b")
    report = chain.verify([*log[:9], other_ten])
    assert report.first_bad_seq == 10
    assert report.problem is not None and report.problem.startswith(
        "deleted: entry 10 does not link"
    )


def test_time_going_backwards_is_reordering(chain: AuditChain, log: list[AuditEntry]) -> None:
    earlier = replace(log[11], ts="2024-05-01T11:00:00.000000Z")
    log[11] = replace(earlier, entry_hash=chain.hash_of(earlier))  # even a valid HMAC
    for later in range(12, 20):
        relinked = replace(log[later], prev_hash=log[later - 1].entry_hash)
        log[later] = replace(relinked, entry_hash=chain.hash_of(relinked))
    report = chain.verify(log)
    assert report.first_bad_seq == 12
    assert report.problem is not None and report.problem.startswith("reordered: entry 12")


def test_a_clock_stepping_back_does_not_make_the_log_run_backwards(chain: AuditChain) -> None:
    clock = ManualClock(START)
    first = chain.make_entry(None, clock=clock, actor="system:purge", action="purge")
    clock.set(START - timedelta(minutes=5))  # NTP step
    second = chain.make_entry(first, clock=clock, actor="system:purge", action="purge")
    assert second.ts == first.ts
    assert chain.verify([first, second]).ok


def test_incremental_verification_continues_from_a_checked_entry(
    chain: AuditChain, log: list[AuditEntry]
) -> None:
    assert chain.verify(log[10:], after=log[9]).ok
    report = chain.verify(log[11:], after=log[9])
    assert (report.first_bad_seq, report.problem) == (
        11,
        "deleted: entry 11 is missing before entry 12",
    )


def test_a_tampered_log_is_not_extended(chain: AuditChain, log: list[AuditEntry]) -> None:
    with pytest.raises(IntegrityError, match="entry 20"):
        chain.make_entry(
            replace(log[-1], actor="user:intruder"), clock=ManualClock(START), actor="a", action="b"
        )


def test_a_naive_clock_is_refused(chain: AuditChain) -> None:
    with pytest.raises(ValueError, match="naive"):
        chain.make_entry(None, clock=lambda: datetime(2024, 1, 1), actor="a", action="b")


def test_canonical_bytes_are_compact_sorted_json_without_the_hash(log: list[AuditEntry]) -> None:
    raw = canonical_bytes(log[0])
    decoded = json.loads(raw)
    assert "entry_hash" not in decoded
    assert list(decoded) == sorted(decoded)
    assert raw == json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()
    assert b": " not in raw and b", " not in raw


def test_entries_survive_a_store_round_trip(chain: AuditChain, log: list[AuditEntry]) -> None:
    stored = [json.dumps(e.to_record()) for e in log]  # what a store might keep
    back = [AuditEntry.from_record(json.loads(s)) for s in stored]
    assert back == log
    assert chain.verify(back).ok
    with pytest.raises(IntegrityError, match="seq 3"):
        AuditEntry.from_record({**log[2].to_record(), "ts": "yesterday"})
    with pytest.raises(IntegrityError):
        AuditEntry.from_record({"seq": 1})


def test_details_are_read_only(log: list[AuditEntry]) -> None:
    with pytest.raises(TypeError):
        log[0].details["candidates"] = 99  # type: ignore[index]
    assert log[0].details["results"] == ("sub_0000",)


def test_check_details_accepts_ids_and_counts() -> None:
    ok = check_details(
        {
            "count": 3,
            "watchlist": "wl_4f2c",
            "results": [f"sub_{i}" for i in range(100)],
            "scores": [0.91, 0.88, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
            "suppressed": True,
            "case": None,
        }
    )
    assert ok["results"] == tuple(f"sub_{i}" for i in range(100))


@pytest.mark.parametrize(
    "details",
    [
        {"embedding": [0.01] * 128},
        {"embedding": np.zeros(128, np.float32)},
        {"scores": [0.1] * 9},
        {"note": "x" * 65},
        {"results": ["sub_1", "x" * 65]},
        {"subject": {"name": "Example"}},
        {"pairs": [["sub_1", "sub_2"]]},
        {"photo": b"\xff\xd8\xff"},
        {"score": float("nan")},
        {"Name": "bad key"},
        {f"k{i}": i for i in range(33)},
        {"results": list(range(257))},
    ],
    ids=lambda d: next(iter(d)),
)
def test_check_details_refuses_what_looks_personal(details: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        check_details(details)


def test_make_entry_applies_the_details_guard(chain: AuditChain) -> None:
    with pytest.raises(ValueError, match="embedding"):
        chain.make_entry(
            None,
            clock=ManualClock(START),
            actor="a",
            action="b",
            details={"embedding": [0.5] * 128},
        )


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_any_single_edit_is_found_at_its_seq(n: int, data: st.DataObject) -> None:
    chain = AuditChain(KEY)
    log = build(chain, n)
    assert chain.verify(log).ok
    seq = data.draw(st.integers(1, n))
    field = data.draw(st.sampled_from(["actor", "action", "object_id", "purpose", "outcome"]))
    value = data.draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20))
    if getattr(log[seq - 1], field) == value:
        return
    changes: dict[str, Any] = {field: value}
    log[seq - 1] = replace(log[seq - 1], **changes)
    report = chain.verify(log)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, seq, seq - 1)
