"""Request bodies of the POS API, checked and turned into typed values.

A wrong shape (not an object, a missing or unknown field, a wrong JSON type) is 400; a
well-formed value the rules refuse (an amount of "1,500.00", a phone that is no phone)
is 422 with a code that says which. Unknown fields are refused rather than ignored: a
typo in ``spend_points`` must not quietly record a purchase without the discount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bot.api.http import bad_request, invalid
from bot.core.text import has_controls
from bot.loyalty.birthday import Birthday, parse_birthday
from bot.loyalty.money import InvalidAmount, parse_api_amount
from bot.loyalty.phones import normalize_phone

MAX_ID_LENGTH = 64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # a receipt's moment outside these is a typo
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_NAME_LENGTH = 64

_AMOUNT_PROBLEMS = {
    "format": 'amounts are decimal strings with a dot and at most 2 decimals, e.g. "1500.00"',
    "zero": "the amount must be more than zero",
    "too_large": "the amount is too large",
}


class Fields:
    """Typed access to the fields of one JSON object (null counts as absent)."""

    def __init__(self, body: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise bad_request(f"unknown field(s): {', '.join(unknown)}")
        self.body = body

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.body.get(name)
        if value is None and required:
            raise bad_request(f"{name} is required")
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        return value

    def integer(self, name: str) -> int | None:
        """A JSON integer; 2.0 is one too, as JSON Schema counts it."""
        value = self.body.get(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad_request(f"{name} must be an integer")
        return value

    def amount(self, name: str, *, required: bool = False) -> int | None:
        value = self.body.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is required")
            return None
        return amount(value)


def amount(value: object) -> int:
    """A decimal string ("1500.00") as minor units, or 422 invalid_amount."""
    try:
        return parse_api_amount(value)
    except InvalidAmount as error:
        raise invalid("invalid_amount", _AMOUNT_PROBLEMS[error.reason]) from None


def identifier(value: str | None, code: str, what: str) -> str | None:
    if value is not None and not (0 < len(value) <= MAX_ID_LENGTH and value.isprintable()):
        raise invalid(code, f"{what} must be 1 to {MAX_ID_LENGTH} printable characters")
    return value


def phone(value: str, region: str) -> str:
    normalized = normalize_phone(value, region)
    if normalized is None:
        raise invalid("invalid_phone", "not a valid phone number")
    return normalized


def moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise invalid("invalid_date", "occurred_at must be ISO 8601 with a UTC offset, "
                                      "e.g. 2026-03-02T12:30:00+03:00")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise invalid("invalid_date", f"occurred_at must be between {EARLIEST.year} and "
                                      f"{LATEST.year}")
    return utc


@dataclass(frozen=True, slots=True)
class PurchaseForm:
    card: str | None
    phone: str | None
    amount: int  # minor units
    receipt_id: str
    spend: int
    occurred_at: datetime | None


def purchase_form(body: dict[str, Any], region: str) -> PurchaseForm:
    fields = Fields(body, ("card", "phone", "amount", "receipt_id", "spend_points", "occurred_at"))
    card, typed_phone = fields.text("card"), fields.text("phone")
    if (card is None) == (typed_phone is None):
        raise bad_request("give either card or phone")
    spend = fields.integer("spend_points") or 0
    if spend < 0:
        raise invalid("invalid_spend_points", "spend_points can't be negative")
    receipt = identifier(fields.text("receipt_id", required=True), "invalid_receipt_id", "receipt_id")
    return PurchaseForm(
        card=card, phone=phone(typed_phone, region) if typed_phone is not None else None,
        amount=fields.amount("amount", required=True) or 0, receipt_id=receipt or "", spend=spend,
        occurred_at=moment(fields.text("occurred_at")),
    )


@dataclass(frozen=True, slots=True)
class RefundForm:
    amount: int | None  # None: all that is left
    refund_id: str | None


def refund_form(body: dict[str, Any]) -> RefundForm:
    fields = Fields(body, ("amount", "refund_id"))
    refund_id = identifier(fields.text("refund_id"), "invalid_refund_id", "refund_id")
    amount = fields.amount("amount")
    if amount is not None and refund_id is None:  # else a retried partial refund refunds twice
        raise bad_request("a partial refund needs a refund_id, so that a retry is recognised")
    return RefundForm(amount, refund_id)


@dataclass(frozen=True, slots=True)
class EnrolForm:
    phone: str
    name: str | None
    birthday: Birthday | None


def enrol_form(body: dict[str, Any], region: str, today: date) -> EnrolForm:
    fields = Fields(body, ("phone", "name", "birthday"))
    typed_phone = fields.text("phone", required=True) or ""
    typed_name = fields.text("name") or ""
    if has_controls(typed_name):
        raise invalid("invalid_name", "the name has control characters")
    name = " ".join(typed_name.split()) or None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise invalid("invalid_name", f"the name may have at most {MAX_NAME_LENGTH} characters")
    typed_birthday = fields.text("birthday")
    try:
        birthday = parse_birthday(typed_birthday, today) if typed_birthday is not None else None
    except ValueError:
        raise invalid("invalid_birthday", "birthday must be DD.MM.YYYY or DD.MM") from None
    return EnrolForm(phone(typed_phone, region), name, birthday)
