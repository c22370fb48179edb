"""Translations (gettext catalogs under locales/) and locale-aware formatting.

The locale is decided once per event and a ``Translator`` is bound for the handlers.
"""

from __future__ import annotations

import gettext
import io
import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

log = logging.getLogger(__name__)

DOMAIN = "messages"
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"


def _load_catalog(locales_dir: Path, locale: str) -> gettext.NullTranslations:
    """The compiled .mo file; compiled in memory from the .po when missing or older."""
    base = locales_dir / locale / "LC_MESSAGES"
    po, mo = base / f"{DOMAIN}.po", base / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    if not po.exists():
        log.warning("no translations for %s in %s; showing source texts", locale, locales_dir)
        return gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True, slots=True)
class Translator:
    locale: str
    catalog: gettext.NullTranslations
    babel_locale: Locale = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "babel_locale", Locale.parse(self.locale))

    def gettext(self, message: str) -> str:
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalog.ngettext(singular, plural, n)

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.babel_locale)

    def percent(self, value: int | Decimal) -> str:
        """15 → "15%" (en) / "15 %" (ru); 3.75 → "3.75%"."""
        return format_percent(Decimal(value) / 100, locale=self.babel_locale, decimal_quantization=False)

    def points(self, n: int) -> str:
        """ "1 500 баллов" / "1,500 points", with the right plural form."""
        return self.ngettext("{n} point", "{n} points", n).format(n=self.number(n))

    def days(self, n: int) -> str:
        """ "1 день", "14 дней" / "1 day", "14 days"."""
        return self.ngettext("{n} day", "{n} days", n).format(n=self.number(n))

    def money(self, minor: int, currency: str) -> str:
        """150050 minor units of RUB → "1 500,50 ₽" (ru) / "RUB 1,500.50" (en)."""
        return format_currency(Decimal(minor) / 100, currency, locale=self.babel_locale)

    def currency_symbol(self, currency: str) -> str:
        return get_currency_symbol(currency, locale=self.babel_locale)

    def date(self, value: date) -> str:
        return format_date(value, format="long", locale=self.babel_locale)


class I18n:
    """Catalogs for every available locale, loaded once."""

    def __init__(self, available: list[str], default: str, locales_dir: Path = LOCALES_DIR) -> None:
        if default not in available:
            raise ValueError(f"default locale {default!r} is not among {available}")
        self.available = list(available)
        self.default = default
        self._translators = {
            code: Translator(code, _load_catalog(locales_dir, code)) for code in available
        }

    def choose(self, *candidates: str | None) -> str:
        """The first supported candidate ("en-GB" counts as "en"), else the default."""
        for candidate in candidates:
            code = (candidate or "").split("-")[0].split("_")[0].lower()
            if code in self._translators:
                return code
        return self.default

    def for_person(self, chosen: str | None, messenger: str | None) -> str:
        """The one rule for everything said to a person, replies and the messages the program
        starts alike: the language chosen in Settings, else the one their messenger
        reports, else the shop's default."""
        return self.choose(chosen, messenger)

    def language_name(self, code: str) -> str:
        """A language in its own words ("Русский", "English"), as language pickers show it."""
        name = Locale.parse(code).get_display_name(code)
        return (name or code).capitalize()

    def translator(self, locale: str) -> Translator:
        return self._translators.get(locale) or self._translators[self.default]


def N_(message: str) -> str:
    """Mark a text for extraction; translated later where the locale is known."""
    return message
