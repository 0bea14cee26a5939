"""Envelope encryption and the blind index (promises 6, 7, 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facewarden.errors import IntegrityError, KeyMaterialError
from facewarden.privacy import Envelope, KeyRing, WrappedKey, normalise_id_number

SUBJECT = {"table": "subjects", "row": "sub_7f3a", "field": "id_number"}


@given(plaintext=st.binary(max_size=2048))
def test_bytes_round_trip(shared_keyring: KeyRing, plaintext: bytes) -> None:
    envelope = Envelope(shared_keyring)
    dek = envelope.new_data_key()
    sealed = envelope.encrypt(plaintext, data_key=dek, **SUBJECT)
    assert len(sealed) == 1 + 12 + len(plaintext) + 16
    assert sealed[0] == 1
    assert envelope.decrypt(sealed, data_key=dek, **SUBJECT) == plaintext


@given(text=st.text(max_size=200))
def test_text_round_trip(shared_keyring: KeyRing, text: str) -> None:
    envelope = Envelope(shared_keyring)
    dek = envelope.new_data_key()
    sealed = envelope.encrypt_str(text, data_key=dek, **SUBJECT)
    assert envelope.decrypt_str(sealed, data_key=dek, **SUBJECT) == text


def test_ciphertext_hides_the_plaintext_and_never_repeats(envelope: Envelope) -> None:
    dek = envelope.new_data_key()
    secret = "Aygül Example, born 1987-03-14"
    first = envelope.encrypt_str(secret, data_key=dek, **SUBJECT)
    second = envelope.encrypt_str(secret, data_key=dek, **SUBJECT)
    assert first != second  # random nonces: equal names do not give equal ciphertexts
    for sealed in (first, second):
        assert secret.encode() not in sealed
        assert b"1987" not in sealed


@pytest.mark.parametrize(
    "moved",
    [
        {"row": "sub_0b21"},  # pasted onto another subject
        {"field": "name"},  # pasted into another field of the same subject
        {"table": "photos"},
    ],
)
def test_a_ciphertext_moved_elsewhere_fails(envelope: Envelope, moved: dict[str, str]) -> None:
    dek = envelope.new_data_key()
    sealed = envelope.encrypt(b"AB123456", data_key=dek, **SUBJECT)
    with pytest.raises(IntegrityError, match="failed authentication"):
        envelope.decrypt(sealed, data_key=dek, **(SUBJECT | moved))


def test_aad_parts_cannot_be_shifted_into_each_other(envelope: Envelope) -> None:
    dek = envelope.new_data_key()
    sealed = envelope.encrypt(b"x", data_key=dek, table="ab", row="c", field="f")
    with pytest.raises(IntegrityError):
        envelope.decrypt(sealed, data_key=dek, table="a", row="bc", field="f")


def test_another_data_key_fails(envelope: Envelope) -> None:
    sealed = envelope.encrypt(b"x", data_key=envelope.new_data_key(), **SUBJECT)
    with pytest.raises(IntegrityError, match="failed authentication"):
        envelope.decrypt(sealed, data_key=envelope.new_data_key(), **SUBJECT)


def test_every_tampered_byte_is_caught(envelope: Envelope) -> None:
    dek = envelope.new_data_key()
    sealed = envelope.encrypt(b"AB123456", data_key=dek, **SUBJECT)
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(IntegrityError):
            envelope.decrypt(bytes(tampered), data_key=dek, **SUBJECT)


@pytest.mark.parametrize("cut", [0, 1, 13, 28])
def test_truncated_ciphertext_is_caught(envelope: Envelope, cut: int) -> None:
    dek = envelope.new_data_key()
    sealed = envelope.encrypt(b"", data_key=dek, **SUBJECT)
    with pytest.raises(IntegrityError):
        envelope.decrypt(sealed[:cut], data_key=dek, **SUBJECT)


@pytest.mark.parametrize("empty", ["table", "row", "field"])
def test_empty_place_names_are_refused(envelope: Envelope, empty: str) -> None:
    with pytest.raises(ValueError, match=empty):
        envelope.encrypt(b"x", data_key=envelope.new_data_key(), **(SUBJECT | {empty: ""}))


def test_wrapped_key_serialises_and_binds_its_master_key(envelope: Envelope) -> None:
    dek = envelope.new_data_key()
    raw = dek.to_bytes()
    assert raw[0] == 1 and len(raw) == 2 + len(dek.master_key_id) + 12 + 48
    assert WrappedKey.from_bytes(raw) == dek
    for garbage in (b"", b"\x02" + raw[1:], raw[:-1], raw + b"\x00", b"\x01\xff"):
        with pytest.raises(IntegrityError):
            WrappedKey.from_bytes(garbage)
    sealed = envelope.encrypt(b"x", data_key=dek, **SUBJECT)
    flipped = WrappedKey(
        dek.master_key_id, dek.nonce, bytes([dek.ciphertext[0] ^ 1]) + dek.ciphertext[1:]
    )
    with pytest.raises(IntegrityError, match="data key wrapped with"):
        envelope.decrypt(sealed, data_key=flipped, **SUBJECT)


def test_master_key_rotation_rewraps_data_keys_only(keyring: KeyRing) -> None:
    envelope = Envelope(keyring)
    old_master = keyring.active_master_id
    rotated_dek, forgotten_dek = envelope.new_data_key(), envelope.new_data_key()
    name = envelope.encrypt_str("Example Person", data_key=rotated_dek, **SUBJECT)
    other = envelope.encrypt_str("Another Person", data_key=forgotten_dek, **SUBJECT)
    assert envelope.decrypt_str(other, data_key=forgotten_dek, **SUBJECT) == "Another Person"

    new_master = keyring.add_master_key()
    rewrapped = envelope.rewrap(rotated_dek)
    assert rewrapped.master_key_id == new_master != old_master
    assert rewrapped.ciphertext != rotated_dek.ciphertext
    assert envelope.rewrap(rewrapped) is rewrapped  # already current: nothing to do
    assert envelope.new_data_key().master_key_id == new_master

    keyring.destroy_master_key(old_master)
    # A fresh process (empty cache) and the same one (warm cache) must agree.
    for reader in (Envelope(KeyRing.open(keyring.path)), envelope):
        assert reader.decrypt_str(name, data_key=rewrapped, **SUBJECT) == "Example Person"
        with pytest.raises(KeyMaterialError, match=old_master):
            reader.decrypt_str(other, data_key=forgotten_dek, **SUBJECT)
        with pytest.raises(KeyMaterialError):
            reader.rewrap(forgotten_dek)


def test_a_small_cache_still_decrypts_everything(keyring: KeyRing) -> None:
    envelope = Envelope(keyring, cache_size=2)
    deks = [envelope.new_data_key() for _ in range(5)]
    sealed = [envelope.encrypt(bytes([i]), data_key=d, **SUBJECT) for i, d in enumerate(deks)]
    for _ in range(2):
        for i, (dek, blob) in enumerate(zip(deks, sealed, strict=True)):
            assert envelope.decrypt(blob, data_key=dek, **SUBJECT) == bytes([i])
    with pytest.raises(ValueError):
        Envelope(keyring, cache_size=0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB-123 456", "AB123456"),
        ("ab123456", "AB123456"),
        (" ab.123/456 ", "AB123456"),
        ("\uff21\uff22\uff11\uff12\uff13\uff14\uff15\uff16", "AB123456"),  # full-width
        ("AB\u2010123\u00a0456", "AB123456"),  # Unicode hyphen, no-break space
        ("AB\u2014123\t456\n", "AB123456"),  # em dash, tab, newline
        ("o0-O", "O0O"),  # letters and digits are never merged
        ("straße 1", "STRASSE1"),
        # Issue 13 finding 10: each of these enrolled the document "P-1" a second time.
        ("P\u22121", "P1"),  # U+2212 MINUS SIGN (a math symbol, not a dash)
        ("P\u20131", "P1"),  # en dash
        ("P\ufe631", "P1"),  # small hyphen-minus
        ("P\u207b1", "P1"),  # superscript minus (NFKC: U+2212)
        ("P-\u0661", "P1"),  # Arabic-Indic digit one
        ("P-\u06f1", "P1"),  # Extended Arabic-Indic (Persian) digit one
        ("P-\u0967", "P1"),  # Devanagari digit one
        ("\uff30\uff0d\uff11", "P1"),  # full-width P, hyphen-minus, one
        ("P_1", "P1"),  # underscore inside
        ("P1_", "P1"),  # trailing underscore
        ("__P1", "P1"),  # leading underscores
        ("P\u200b1\u00ad", "P1"),  # zero-width space, soft hyphen
        ("P\u20071", "P1"),  # figure space
        ("#P:1,", "P1"),  # other punctuation separates only
        ("\u0661\u0662\u0663-\u0664\u0665\u0666", "123456"),
        ("\u00b9\u00b2\u00b3", "123"),  # superscript digits (NFKC)
    ],
)
def test_id_numbers_normalise(raw: str, expected: str) -> None:
    assert normalise_id_number(raw) == expected


def test_blind_index_matches_equal_numbers_written_differently(envelope: Envelope) -> None:
    token = envelope.blind_index("AB-123 456", kind="id_number")
    assert token == envelope.blind_index("ab123456", kind="id_number")
    assert len(token) == 64 and int(token, 16) >= 0
    assert token != envelope.blind_index("AB123457", kind="id_number")
    assert token != envelope.blind_index("AB123456", kind="passport")
    assert "123456" not in token


def test_blind_index_differs_across_deployments(tmp_path: Path) -> None:
    a = Envelope(KeyRing.open(tmp_path / "a", create=True))
    b = Envelope(KeyRing.open(tmp_path / "b", create=True))
    assert a.blind_index("AB123456", kind="id_number") != b.blind_index(
        "AB123456", kind="id_number"
    )


@pytest.mark.parametrize(
    ("value", "kind"), [(" - ./ ", "id_number"), ("A1", ""), ("A1", "ID"), ("A1", "a\x00b")]
)
def test_blind_index_refuses_empty_values_and_bad_kinds(
    envelope: Envelope, value: str, kind: str
) -> None:
    with pytest.raises(ValueError):
        envelope.blind_index(value, kind=kind)
