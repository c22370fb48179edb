"""The catalogs: every text the code uses is translated to Russian, placeholders intact, a
count in every Russian form, and no code of the program's own shown to people."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from tests.texts import raw_keys

LOCALES = Path(__file__).resolve().parent.parent / "locales"
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}")


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


def entries(locale: str) -> list:  # type: ignore[type-arg]
    return [message for message in catalog(locale) if message.id]


def forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


RUSSIAN = entries("ru")


def test_the_russian_catalog_has_every_text_of_the_template():
    with (LOCALES / "messages.pot").open("rb") as fp:
        template = {m.id for m in read_po(fp) if m.id}
    assert template <= {m.id for m in RUSSIAN}, "run `make messages` and translate"


def test_every_entry_is_translated_with_the_same_placeholders():
    fuzzy = [m.id for m in RUSSIAN if "fuzzy" in m.flags]  # pybabel's guesses, unchecked
    untranslated = [m.id for m in RUSSIAN if not all(forms(m.string))]
    other_placeholders = [(m.id, text) for m in RUSSIAN for text in forms(m.string)
                          if placeholders(text) != placeholders(forms(m.id)[-1])]
    assert (fuzzy, untranslated, other_placeholders) == ([], [], [])


def test_a_count_reads_right_in_every_russian_form():
    """1 покупатель, 2 покупателя, 5 покупателей: the three forms Russian counts need."""
    counted = [m for m in RUSSIAN if m.pluralizable]
    assert counted and catalog("ru").num_plurals == 3
    assert [m.id for m in counted if len(m.string) != 3 or len(set(m.string)) == 1] == []
    assert [m.id for m in counted if placeholders(m.id[0]) != placeholders(m.id[1])] == []


def test_no_entry_shows_a_code_of_the_program():
    """A trigger's, a segment's or a config key's code (win_back_30, console.retention_spend)
    is for the program; people read words."""
    assert [(text, raw_keys(text)) for m in RUSSIAN for text in (*forms(m.id), *forms(m.string))
            if raw_keys(text)] == []


def test_the_english_catalog_says_the_source_texts():
    """English is the source language: nothing is translated over it."""
    assert {m.id for m in entries("en")} == {m.id for m in RUSSIAN}
    assert all(not any(forms(m.string)) for m in entries("en"))


def test_the_checks_catch_what_they_look_for():
    assert raw_keys("set console.retention_spend in the config") == ["console.retention_spend"]
    assert raw_keys("«review_request»: 3 sent") == ["review_request"]
    assert raw_keys("Send /broadcast_report or https://example.com/a_b, to {hold_came}, "
                    "name@example.com, e.g. now") == []
    assert placeholders("{active_30} of {size}, {{literal}}") == {"active_30", "size"}


def test_the_template_is_current():
    """Texts in the code are all in the template (``make messages`` was run)."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "messages.pot"
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
             "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "N_", "--no-location",
             "--omit-header", "--sort-output", "-o", str(out), "."],
            cwd=LOCALES.parent, check=True, capture_output=True,
        )
        with out.open("rb") as fp:
            extracted = {m.id for m in read_po(fp) if m.id}
    with (LOCALES / "messages.pot").open("rb") as fp:
        committed = {m.id for m in read_po(fp) if m.id}
    assert extracted == committed
