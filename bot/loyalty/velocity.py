"""Velocity flags: a card used for more purchases in a shop-local day than one person makes
(default more than 5), or a cashier giving more points in a day than the till's trade
explains. The purchase that crosses the line raises one alert to every admin, with the day's
figures and a one-tap block of the card or the cashier (bot/handlers/blocks.py).

The figures are counted in the purchase's own transaction, under the customer's lock, so the
crossing purchase is exactly one even when a card is used at two tills at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, tzinfo

from bot.config import ProgramSettings, Settings
from bot.core.i18n import Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.delivery.notify import Notification, Render
from bot.loyalty.cards import format_card_number
from bot.loyalty.people import person
from bot.storage.models import Customer
from bot.storage.repositories.purchases import DayTotals
from bot.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class CardFlag:
    """A card's purchases today went over the limit with this purchase."""

    customer_id: int
    card_number: str
    name: str | None
    purchases: int
    amount: int  # minor units, today's purchases together
    earned: int
    spent: int
    limit: int


@dataclass(frozen=True, slots=True)
class CashierFlag:
    """The points a cashier gave today went over the limit with this purchase."""

    identity_id: int
    channel: str
    external_id: str
    name: str | None  # from their customer profile, if they joined the program too
    blockable: bool  # a cashier (an admin is not blocked by another admin's tap)
    points: int
    purchases: int
    limit: int


Flag = CardFlag | CashierFlag


def day_start(now: datetime, zone: tzinfo) -> datetime:
    return datetime.combine(now.astimezone(zone).date(), time(0), zone)


async def flags(uow: UnitOfWork, customer: Customer, actor: int | None, earned: int,
                since: datetime, program: ProgramSettings, today: DayTotals) -> tuple[Flag, ...]:
    """The flags the purchase just recorded (``earned`` points, made by ``actor``) raises;
    ``since`` is when the shop's day began, ``today`` the card's purchases since, this one
    included (read with the purchase's other figures, under the customer's lock)."""
    found: list[Flag] = []
    card = _card_flag(customer, today, program.velocity_card_purchases)
    if card is not None:
        found.append(card)
    if actor is not None and earned:
        cashier = await _cashier_flag(uow, actor, earned, since, program.velocity_cashier_points)
        if cashier is not None:
            found.append(cashier)
    return tuple(found)


def _card_flag(customer: Customer, today: DayTotals, limit: int) -> CardFlag | None:
    if limit <= 0 or today.purchases != limit + 1:  # only the purchase crossing the line alerts
        return None
    return CardFlag(customer.id, customer.card_number, customer.name, today.purchases,
                    today.amount, today.earned, today.spent, limit)


async def _cashier_flag(uow: UnitOfWork, actor: int, earned: int, since: datetime,
                        limit: int) -> CashierFlag | None:
    if limit <= 0:
        return None
    points, purchases = await uow.lots.earned_by(actor, since)
    if not points - earned <= limit < points:
        return None
    entry = await uow.roster.entry(actor)
    if entry is None:  # an admin listed in the config file only
        identity = await uow.identities.get(actor)
        channel, external_id = (identity.channel, identity.external_id) if identity else ("", "")
        return CashierFlag(actor, channel, external_id, None, False, points, purchases, limit)
    return CashierFlag(actor, entry.channel, entry.external_id, entry.name,
                       entry.role == "cashier", points, purchases, limit)


def alerts(found: tuple[Flag, ...], settings: Settings) -> list[Notification]:
    return [Notification(_card_alert(flag, settings.shop.currency) if isinstance(flag, CardFlag)
                         else _cashier_alert(flag), admins=True) for flag in found]


def purchases(t: Translator, n: int) -> str:
    return t.ngettext("{n} purchase", "{n} purchases", n).format(n=n)


def _card_alert(flag: CardFlag, currency: str) -> Render:
    card = format_card_number(flag.card_number)

    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        lines = [
            _("🚩 Card {card} ({name}): {purchases} today, more than the {limit} a day that "
              "alerts.").format(card=card, name=flag.name or "—", limit=flag.limit,
                                purchases=purchases(t, flag.purchases)),
            _("Together {amount}; earned {earned}, spent {spent}.").format(
                amount=t.money(flag.amount, currency), earned=t.points(flag.earned),
                spent=t.points(flag.spent)),
            _("A blocked card neither earns nor spends points until you unblock it."),
        ]
        return [Text("\n".join(lines), keyboard(
            [Button(_("⛔ Block the card"), f"blk.card:{flag.customer_id}")],
            [Button(_("👤 The customer"), f"cu.show:{flag.customer_id}")]))]

    return render


def _cashier_alert(flag: CashierFlag) -> Render:
    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        who = person(_, flag.channel, flag.external_id, flag.name)
        lines = [_("🚩 {who} gave {points} today ({purchases}), more than the {limit} a day "
                   "that alerts.").format(who=who, points=t.points(flag.points),
                                          purchases=purchases(t, flag.purchases),
                                          limit=t.points(flag.limit))]
        if not flag.blockable:
            return [Text("\n".join(lines))]
        lines.append(_("A blocked cashier can't use the checkout until you unblock them."))
        return [Text("\n".join(lines), keyboard(
            [Button(_("⛔ Block the cashier"), f"blk.staff:{flag.identity_id}")]))]

    return render
