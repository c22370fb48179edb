"""One purchase to the next tier: customers exactly one purchase short of the next tier hear
what that tier gives (tiers by purchase count only; not before the first purchase); the
episode is that tier and the purchase count."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from bot.config import Settings, Tier, Trigger
from bot.core.i18n import N_, Translator
from bot.loyalty.tiers import next_tier
from bot.marketing.triggers.base import (
    PERSON,
    AutomaticTrigger,
    Candidate,
    Scope,
    eligible,
    gift_line,
    people,
    sent,
)
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork


class TierNudge(AutomaticTrigger):
    name = "tier_nudge"
    title = N_("One purchase to the next tier")
    episode = "next tier:purchases"
    about = N_("One purchase to the next tier, and what that tier gives.")

    def timing(self, t: Translator, config: Trigger) -> str:
        return t.gettext("one purchase short")

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        program = settings.program
        if program.tier_basis == "spend":
            return []
        short: dict[int, Tier] = {}
        for tier in program.tiers:
            count = tier.min_purchases - 1
            upcoming = next_tier(count, program) if count >= 1 else None
            if upcoming is not None and upcoming[1] == 1 and upcoming[0].code == tier.code:
                short[count] = tier
        if not short:
            return []
        found = await people(uow, select(*PERSON)
                             .where(eligible(scope), Customer.purchase_count.in_(list(short)))
                             .order_by(Customer.id))
        done = await sent(uow, self.name, [c.id for c in found])
        candidates = []
        for customer in found:
            tier = short[customer.purchase_count]
            episode = f"{tier.code}:{customer.purchase_count}"
            if (customer.id, episode) not in done:
                candidates.append(Candidate(self.name, customer, episode, tier=tier))
        return candidates

    def text(self, t: Translator, values: dict[str, str], gives: bool, candidate: Candidate,
             settings: Settings) -> str:
        _, tier = t.gettext, candidate.tier
        assert tier is not None
        share = Decimal(settings.program.max_discount_percent * tier.spend_share_percent) / 100
        return "\n".join([
            _("{name}, one more purchase and your tier is {tier}:").format(**values),
            _("• {percent} of every purchase comes back in points").format(
                percent=t.percent(tier.cashback_percent)),
            _("• points can pay up to {percent} of a purchase").format(percent=t.percent(share)),
            *gift_line(t, values, gives)])
