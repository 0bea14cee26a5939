"""Text people type: printable, and zero-width joiners only inside a word.

Real names: a Persian surname written with a zero-width non-joiner (as Iranian
keyboards and documents write "علی‌پور"), a Malayalam word with a zero-width
joiner, an emoji ZWJ sequence.
"""

from __future__ import annotations

import pytest

from facewarden.errors import InvalidInputError
from facewarden.service import Warden
from facewarden.service.names import is_typed_text
from facewarden.service.records import SubjectRecord

ALIPOUR = "\u0639\u0644\u06cc\u200c\u067e\u0648\u0631"


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        (ALIPOUR, True),
        ("\u0d28\u0d4d\u200d", False),  # a joiner at the end joins nothing
        ("\u0d15\u0d4d\u200d\u0d37", True),  # Malayalam: virama, ZWJ, letter
        ("\U0001f469\u200d\U0001f4bb", True),  # woman technologist
        ("\U0001f3f3\ufe0f\u200d\U0001f308", True),  # rainbow flag: flag, VS16, ZWJ, rainbow
        ("Ana", True),
        ("\u200cAna", False),
        ("Ana \u200c Lee", False),  # next to a space
        ("A\u200c\u200dna", False),  # two joiners: one joins nothing
        ("Ana\u202eLee", False),  # a bidi override is still refused
        ("Ana\tLee", False),
        ("Ana\x00", False),
    ],
)
def test_joiners_count_only_inside_a_word(text: str, typed: bool) -> None:
    assert is_typed_text(text) is typed


def test_a_record_takes_a_persian_name_and_still_refuses_control_characters() -> None:
    # The native registry refused the name as "control characters" (ZWNJ is a format one).
    record = SubjectRecord(full_name=ALIPOUR, lawful_basis="consent", notes="line one\nline two")
    assert record.full_name == ALIPOUR
    with pytest.raises(InvalidInputError, match="control characters"):
        SubjectRecord(full_name="Ana\u202eLee", lawful_basis="consent")


# "Access control" in Persian, written as Iranian keyboards write it: a ZWNJ inside the word.
PURPOSE = "\u06a9\u0646\u062a\u0631\u0644 \u062f\u0633\u062a\u0631\u0633\u06cc\u200c\u0647\u0627"
LOBBY = "\u0644\u0627\u0628\u06cc \u0634\u0645\u0627\u0644\u06cc\u200c\u062a\u0631"


def test_the_names_and_purposes_operators_type_take_joiners_as_a_record_does(
    warden: Warden,
) -> None:
    # Watchlists, cameras, API keys and audit purposes refused what a subject's name took
    # ("must be printable"): a Persian site could not declare its watchlist's purpose.
    watchlist = warden.watchlists.create(ALIPOUR, purpose=PURPOSE, lawful_basis=PURPOSE)
    assert (watchlist.name, watchlist.purpose) == (ALIPOUR, PURPOSE)
    edited = warden.watchlist_admin.edit(ALIPOUR, purpose=f"{PURPOSE} 2", lawful_basis=PURPOSE)
    assert edited.purpose == f"{PURPOSE} 2"
    camera = warden.cameras.add(LOBBY, location=LOBBY)
    assert (camera.name, camera.location) == (LOBBY, LOBBY)
    assert warden.access.create_api_key(ALIPOUR, "operator").key.name == ALIPOUR
    entry = warden.audit.record("test.typed", purpose=PURPOSE, note=LOBBY)
    assert warden.audit.readable(entry).purpose == PURPOSE
    assert warden.audit.verify().ok

    # A joiner that joins nothing, or a bidi override, is refused everywhere alike.
    for bad in ("\u200c" + ALIPOUR, "Ana\u202eLee"):
        with pytest.raises(InvalidInputError):
            warden.watchlists.create(bad, purpose="p", lawful_basis="b")
        with pytest.raises(InvalidInputError):
            warden.watchlists.create("w", purpose=bad, lawful_basis="b")
        with pytest.raises(InvalidInputError):
            warden.cameras.add(bad, location="lobby")
        with pytest.raises(InvalidInputError):
            warden.access.create_api_key(bad, "operator")
        with pytest.raises(InvalidInputError):
            warden.audit.record("test.typed", purpose=bad)
