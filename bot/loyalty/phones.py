"""Phone numbers in one canonical form (E.164)."""

from __future__ import annotations

import functools

import phonenumbers

MAX_TYPED_LENGTH = 32


def normalize_phone(text: str, region: str) -> str | None:
    """"+7 900 123-45-67", "8 (900) 123 45 67" → "+79001234567"; None if not a valid number."""
    if not text or len(text) > MAX_TYPED_LENGTH:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def example_phone(region: str) -> str:
    """A mobile number as people of ``region`` write it, for hints: "+7 912 345-67-89"."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return "+1 201 555 0123"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
