"""The catalogs: every text the code uses is translated to Russian, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


def test_every_message_is_translated_to_russian_with_the_same_placeholders():
    with (LOCALES / "messages.pot").open("rb") as fp:
        template = {m.id for m in read_po(fp) if m.id}
    russian = catalog("ru")
    assert template <= {m.id for m in russian if m.id}, "run `make messages` and translate"
    for message in russian:
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert text, f"untranslated: {message.id!r}"
            assert set(PLACEHOLDER.findall(text)) == expected, message.id


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
