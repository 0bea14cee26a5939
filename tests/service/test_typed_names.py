"""Text people type: printable, and zero-width joiners only inside a word.

Real names: a Persian surname written with a zero-width non-joiner (as Iranian
keyboards and documents write "علی‌پور"), a Malayalam word with a zero-width
joiner, an emoji ZWJ sequence.
"""

from __future__ import annotations

import pytest

from facewarden.errors import InvalidInputError
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
