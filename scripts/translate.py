"""Set Russian translations from a JSON file of {msgid: text} (plural: msgid of the
singular → [one, few, many]) and clear their fuzzy marks. Used after `make messages`:

    .venv/bin/python scripts/translate.py ru new-texts.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def main(locale: str, source: str) -> int:
    translations = json.loads(Path(source).read_text(encoding="utf-8"))
    path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    by_singular = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalog if m.id}
    missing = [key for key in translations if key not in by_singular]
    for key, text in translations.items():
        message = by_singular.get(key)
        if message is None:
            continue
        message.string = tuple(text) if isinstance(text, list) else text
        message.flags.discard("fuzzy")
        message.previous_id = []
    with path.open("wb") as fp:
        write_po(fp, catalog, width=100, no_location=True, sort_output=True)
    for key in missing:
        print(f"not in the catalog: {key!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
