"""Cards that share a phone number, verified on one and typed on the other: someone who
joined in the web chat (or typed the number in Viber) and later shared it from Telegram or
WhatsApp, or somebody who typed another person's number. Nothing links them silently:
each pair is put to the admins once, with what is on both cards, to merge or keep apart.

A merge joins the typed card into the verified one in the admin's transaction: identities,
points (lots keep their expiry), purchases, reviews, referrals and the rest move; the
counters add up; the survivor keeps its number and phone, takes what it lacks (name,
birthday, profile, referral code) from the other, and the earlier moment of joining. The
merged card's number and QR code then say that it was joined. The merge is audited and
the customer is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.console import audit
from bot.core.i18n import Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.delivery.notify import Notification, Render
from bot.loyalty.cards import format_card_number
from bot.loyalty.people import channel_name
from bot.storage.models import Customer, SharedPhone
from bot.storage.uow import UnitOfWork

MAX_TWINS = 20  # typed cards with one number asked about at once; more is not one person


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What the admins are shown of one card of the pair."""

    card_number: str
    name: str | None
    channels: tuple[str, ...]
    points: int
    purchases: int
    verified: bool


class NotMergeable(Exception):
    """The pair is no longer what the admins were asked about (a card deleted, the phone
    changed): nothing is merged."""


async def twins_of(uow: UnitOfWork, customer_id: int, now: datetime) -> list[SharedPhone]:
    """The pairs this member makes with other members of their phone that the admins have
    not been asked about yet, recorded now (one alert each)."""
    customer = await uow.customers.get(customer_id)  # the caller's member, loaded: no SQL
    if customer is None or customer.phone is None or customer.registered_at is None:
        return []
    if customer.phone_verified:
        typed = [other for other in await uow.customers.with_phone(customer.phone, MAX_TWINS + 1)
                 if not other.phone_verified and other.registered_at is not None]
        pairs = [(customer, other) for other in typed]
    else:
        owner = await uow.customers.by_verified_phone(customer.phone)
        pairs = [(owner, customer)] if owner is not None and owner.registered_at else []
    asked = [await uow.shared_phones.ask(verified, typed, now) for verified, typed in pairs]
    return [pair for pair in asked if pair is not None]


async def facts_of(uow: UnitOfWork, customer: Customer, now: datetime) -> CardFacts:
    channels = await uow.identities.channels_of(customer.id)
    return CardFacts(customer.card_number, customer.name, tuple(channels),
                     await uow.lots.available_balance(customer.id, now), customer.purchase_count,
                     customer.phone_verified)


async def alert(uow: UnitOfWork, pair: SharedPhone, now: datetime) -> Notification:
    """The question to every admin: the two cards side by side, Merge or Keep apart."""
    verified = await uow.customers.get(pair.verified_customer_id)
    typed = await uow.customers.get(pair.typed_customer_id)
    assert verified is not None and typed is not None and verified.phone is not None
    cards = (await facts_of(uow, verified, now), await facts_of(uow, typed, now))
    return Notification(_alert(pair.id, verified.phone, cards), admins=True)


def card_line(t: Translator, card: CardFacts) -> str:
    _ = t.gettext
    purchases = t.ngettext("{n} purchase", "{n} purchases", card.purchases).format(n=card.purchases)
    return _("• card {card} «{name}» ({channels}; {points}, {purchases}), {verification}").format(
        card=format_card_number(card.card_number), name=card.name or "—",
        channels=", ".join(channel_name(_, c) for c in card.channels) or "—",
        points=t.points(card.points), purchases=purchases,
        verification=_("phone verified") if card.verified else _("phone not verified"))


def _alert(pair_id: int, phone: str, cards: tuple[CardFacts, CardFacts]) -> Render:
    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        lines = [_("👥 Two cards share the phone {phone}:").format(phone=phone),
                 *(card_line(t, card) for card in cards),
                 "",
                 _("Merge them? The card whose phone is not verified joins the verified one: "
                   "its points, purchases and messengers move there, and its number stops "
                   "working. Keep them apart if they are two different people.")]
        return [Text("\n".join(lines), keyboard(
            [Button(_("🔗 Merge"), f"merge.yes:{pair_id}"),
             Button(_("Keep apart"), f"merge.no:{pair_id}")]))]

    return render


# --- the merge -----------------------------------------------------------------------------

async def merge(uow: UnitOfWork, pair: SharedPhone, actor: int | None, now: datetime) -> Customer:
    """Join the pair's typed card into its verified one (the caller has locked the pair and
    commits); returns the survivor."""
    both = sorted((pair.verified_customer_id, pair.typed_customer_id))
    await uow.identities.lock_of(both)
    for customer_id in both:
        await uow.customers.lock(customer_id)  # in one order: two merges never deadlock
    survivor = await uow.customers.get(pair.verified_customer_id)
    merged = await uow.customers.get(pair.typed_customer_id)
    if (survivor is None or merged is None or not survivor.phone_verified
            or merged.phone_verified or merged.phone != survivor.phone):
        raise NotMergeable
    points, purchases = await uow.lots.available_balance(merged.id, now), merged.purchase_count
    joined = min((moment for moment in (survivor.registered_at, merged.registered_at) if moment),
                 default=None)
    referral_code = survivor.referral_code or merged.referral_code
    take_over(survivor, merged)
    await uow.customers.merge(survivor.id, merged.id)
    if joined is not None and joined != survivor.registered_at:
        await uow.customers.rejoin(survivor.id, joined)
    survivor.referral_code = referral_code  # free once the merged card is gone
    pair.status, pair.decided_at, pair.decided_by = "merged", now, actor
    await audit.record(uow, actor, "merge_cards", survivor.id, at=now, pair=pair.id,
                       card=survivor.card_number, merged_card=merged.card_number,
                       merged_customer=merged.id, points_moved=points, purchases_moved=purchases)
    return survivor


def take_over(survivor: Customer, merged: Customer) -> None:
    """The survivor's own columns after the merge: counters add up, what it lacks comes from
    the other card, an opt-out or a block on either stays."""
    survivor.purchase_count += merged.purchase_count
    survivor.total_spent += merged.total_spent
    for name in ("name", "locale", "source", "preferred_channel", "blocked_at",
                 "referral_rewarded_at"):
        if getattr(survivor, name) is None:
            setattr(survivor, name, getattr(merged, name))
    if survivor.birth_month is None:
        survivor.birth_day, survivor.birth_month, survivor.birth_year = (
            merged.birth_day, merged.birth_month, merged.birth_year)
    if survivor.profile_completed_at is None and merged.profile_completed_at is not None:
        survivor.email, survivor.heard_from = merged.email, merged.heard_from
        survivor.profile_completed_at = merged.profile_completed_at
    for name in ("notify_promotions", "notify_reminders", "notify_digest"):
        setattr(survivor, name, getattr(survivor, name) and getattr(merged, name))
    survivor.consent_at = min(survivor.consent_at, merged.consent_at)
    survivor.created_at = min(survivor.created_at, merged.created_at)
    if survivor.referred_by in (None, merged.id):
        survivor.referred_by = merged.referred_by if merged.referred_by != survivor.id else None


def merged_notice(customer_id: int, card_number: str, old_card_number: str,
                  balance: int) -> Notification:
    """For the customer: their two cards are one now."""
    card, old = format_card_number(card_number), format_card_number(old_card_number)

    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        return [Text(_("Your two cards are joined into one, card № {card}: your points, "
                       "purchases and messengers are all on it now. Balance: {points}. The "
                       "card № {old} no longer works.").format(
            card=card, old=old, points=t.points(balance)))]

    return Notification(render, customer_id=customer_id)
