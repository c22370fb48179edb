"""Review request: ``hours`` hours after a purchase (but within two days) the customer is
asked to rate it with 1–5 buttons; not for a refunded, rated or imported purchase. The
episode is the purchase. Due hours after a purchase, so the scheduler runs it every hour."""

from __future__ import annotations

from datetime import timedelta, tzinfo

from sqlalchemy import String, cast, exists, select

from bot.config import Settings, Trigger
from bot.core.i18n import N_, Translator
from bot.core.replies import Button, Keyboard, keyboard
from bot.handlers.notices import RATINGS, review_payload
from bot.marketing.triggers.base import (
    PERSON,
    AutomaticTrigger,
    Candidate,
    Picked,
    Scope,
    as_utc,
    eligible,
    gift_line,
    not_sent,
)
from bot.storage.models import Customer, Purchase, Review
from bot.storage.uow import UnitOfWork

REVIEW_WINDOW = timedelta(days=2)  # older purchases are not asked about


class ReviewRequest(AutomaticTrigger):
    name = "review_request"
    title = N_("Review request")
    episode = "purchase"
    about = N_("A request to rate the visit (date and amount) with 1–5 buttons.")
    hourly = True
    extra_values = ("date", "amount")

    def timing(self, t: Translator, config: Trigger) -> str:
        hours = getattr(config, "hours", 0)
        return t.ngettext("{n} hour after a purchase", "{n} hours after a purchase",
                          hours).format(n=hours)

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        rated = exists().where(Review.purchase_id == Purchase.id)
        hours = settings.triggers.review_request.hours
        stmt = (select(*PERSON, Purchase).join(Purchase, Purchase.customer_id == Customer.id)
                .where(eligible(scope),
                       Purchase.occurred_at <= scope.at - timedelta(hours=hours),
                       Purchase.occurred_at > scope.at - REVIEW_WINDOW, Purchase.refunded_amount == 0,
                       Purchase.source != "import", ~rated,
                       not_sent(self.name, cast(Purchase.id, String)))
                .order_by(Purchase.id))
        return [Candidate(self.name, Picked(*row[:-1]), str(row[-1].id), purchase=row[-1])
                for row in (await uow.session.execute(stmt)).all()]

    def values(self, t: Translator, candidate: Candidate, settings: Settings,
               zone: tzinfo) -> dict[str, str]:
        purchase = candidate.purchase
        assert purchase is not None
        return {"date": t.date(as_utc(purchase.occurred_at).astimezone(zone).date()),
                "amount": t.money(purchase.amount, settings.shop.currency)}

    def buttons(self, candidate: Candidate) -> Keyboard:
        assert candidate.purchase is not None
        purchase_id = candidate.purchase.id
        return keyboard([Button(str(rating), review_payload(purchase_id, rating)) for rating in RATINGS])

    def text(self, t: Translator, values: dict[str, str], gives: bool, candidate: Candidate,
             settings: Settings) -> str:
        return "\n".join([*gift_line(t, values, gives),
                          t.gettext("How was your visit on {date} ({amount})? Rate it from 1 to 5:")
                          .format(**values)])
