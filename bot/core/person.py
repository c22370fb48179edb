"""Who an event comes from, as plain values: the person in this channel (``Person``) and
their card (``Member``). The core builds them from the rows it loaded for the event, so a
handler reads facts and changes nothing by assignment: a change is a named command of a
repository (``uow.customers.set_preferred_channel``, …), after which the handler asks the
context to read the snapshots again (``ctx.reread()``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.models import Customer, Identity, Staff


@dataclass(frozen=True, slots=True)
class StaffPost:
    """The person's staff role, if the shop gave them one."""

    role: str
    outlet_id: int | None
    blocked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Person:
    """The person as one channel knows them, before and after they join."""

    id: int  # the identity's id: what the audit log and the staff tables name
    channel: str
    external_id: str
    locale: str | None  # chosen in Settings
    consent_at: datetime | None
    source: str | None  # the first /start's payload
    staff: StaffPost | None


@dataclass(frozen=True, slots=True)
class Member:
    """A customer's card: joining (``registered_at`` None) or joined."""

    id: int
    card_number: str
    phone: str | None
    phone_verified: bool
    name: str | None
    birth_day: int | None
    birth_month: int | None
    birth_year: int | None
    locale: str | None
    consent_at: datetime
    registered_at: datetime | None
    purchase_count: int
    total_spent: int  # minor units, net of refunds
    email: str | None
    heard_from: str | None
    profile_completed_at: datetime | None
    referral_code: str | None
    referred_by: int | None
    notify_promotions: bool
    notify_reminders: bool
    notify_digest: bool
    preferred_channel: str | None
    blocked_at: datetime | None


def staff_post_of(staff: Staff | None) -> StaffPost | None:
    return None if staff is None else StaffPost(staff.role, staff.outlet_id, staff.blocked_at)


def person_of(identity: Identity) -> Person:
    """The identity as a plain value (its ``staff`` loaded)."""
    return Person(id=identity.id, channel=identity.channel, external_id=identity.external_id,
                  locale=identity.locale, consent_at=identity.consent_at, source=identity.source,
                  staff=staff_post_of(identity.staff))


def member_of(customer: Customer) -> Member:
    """The customer's row as a plain value."""
    c = customer
    return Member(
        id=c.id, card_number=c.card_number, phone=c.phone, phone_verified=bool(c.phone_verified),
        name=c.name, birth_day=c.birth_day, birth_month=c.birth_month, birth_year=c.birth_year,
        locale=c.locale, consent_at=c.consent_at, registered_at=c.registered_at,
        purchase_count=c.purchase_count or 0, total_spent=c.total_spent or 0, email=c.email,
        heard_from=c.heard_from, profile_completed_at=c.profile_completed_at,
        referral_code=c.referral_code, referred_by=c.referred_by,
        notify_promotions=_on(c.notify_promotions), notify_reminders=_on(c.notify_reminders),
        notify_digest=_on(c.notify_digest), preferred_channel=c.preferred_channel,
        blocked_at=c.blocked_at)


def _on(switch: bool | None) -> bool:
    """A notification switch of a row not flushed yet reads None: the column's default, on."""
    return True if switch is None else switch
