"""Balance digest: on the configured days of the month, the balance, the tier and what is
left to the next one, to customers who want the digest; the episode is the date. A customer
with no purchase ever and no points left is skipped: nothing to tell."""

from __future__ import annotations

from sqlalchemy import exists, or_, select

from bot.config import ProgramSettings, Settings, Trigger
from bot.core.i18n import N_, Translator
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.tiers import current_tier, next_tier, tier_label
from bot.marketing.triggers.base import (
    PERSON,
    AutomaticTrigger,
    Candidate,
    Scope,
    eligible,
    gift_line,
    not_sent,
    people,
)
from bot.storage.models import Customer, PointLot, Purchase
from bot.storage.uow import UnitOfWork


class BalanceDigest(AutomaticTrigger):
    name = "balance_digest"
    title = N_("Balance digest")
    episode = "digest date"
    about = N_("The balance, the tier and what is left to the next one (and the gift, if any).")

    def timing(self, t: Translator, config: Trigger) -> str:
        return t.gettext("on days {days}").format(
            days=", ".join(str(d) for d in getattr(config, "days_of_month", [])))

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        today = scope.day.today
        if today.day not in settings.triggers.balance_digest.days_of_month:
            return []
        episode = today.isoformat()
        something = or_(Customer.purchase_count > 0,
                        exists().where(Purchase.customer_id == Customer.id),
                        exists().where(PointLot.customer_id == Customer.id, PointLot.remaining > 0,
                                       PointLot.expires_at > scope.at))
        stmt = (select(*PERSON)
                .where(eligible(scope, Customer.notify_digest), something,
                       not_sent(self.name, episode))
                .order_by(Customer.id))
        return [Candidate(self.name, customer, episode) for customer in await people(uow, stmt)]

    def text(self, t: Translator, values: dict[str, str], gives: bool, candidate: Candidate,
             settings: Settings) -> str:
        customer = candidate.customer
        return "\n".join([t.gettext("{name}, your balance: {balance}.").format(**values),
                          *tier_lines(t, settings.program, customer.purchase_count,
                                      customer.total_spent, settings.shop.currency),
                          *gift_line(t, values, gives)])


def tier_lines(t: Translator, program: ProgramSettings, count: int, spent: int,
               currency: str) -> list[str]:
    """The tier and how far the next one is, as /status tells it."""
    _ = t.gettext
    lines = [_("Your tier: {tier}").format(tier=tier_label(current_tier(count, program, spent), _))]
    upcoming = next_tier(count, program, spent)
    if upcoming is None:
        return lines
    following, left = upcoming
    if program.tier_basis == "spend":
        lines.append(_("{amount} more in purchases to {tier}: {percent} back in points.").format(
            amount=t.money(left * MINOR_PER_UNIT, currency), tier=tier_label(following, _),
            percent=t.percent(following.cashback_percent)))
    else:
        lines.append(t.ngettext(
            "{n} purchase to {tier}: {percent} back in points.",
            "{n} purchases to {tier}: {percent} back in points.", left,
        ).format(n=left, tier=tier_label(following, _), percent=t.percent(following.cashback_percent)))
    return lines
