"""The POS HTTP API for till software, under /api/v1: look up a card, enrol a customer,
record a purchase (idempotent by receipt), refund; and the trigger reports. Each request is
one transaction that starts by checking the API key, and the key decides the outlet. The
customer's notice is written to the outbox in the same transaction and sent after the commit
by the outbox sender, so a slow messenger never holds up the till.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar

from aiohttp import web

from bot.api import openapi
from bot.api.customers import by_card, by_phone, card_summary, enrol
from bot.api.http import ApiError, api_errors, json_object
from bot.api.keys import authenticate, bearer_key
from bot.api.payloads import amount, enrol_form, identifier, purchase_form, refund_form
from bot.config import Settings
from bot.core.conversation import Core
from bot.delivery.notify import Notification
from bot.handlers.notices import purchase_notifications, refund_notice
from bot.loyalty.checkout import (
    CardBlocked,
    Checkout,
    CheckoutError,
    CustomerGone,
    FutureDate,
    PurchaseResult,
    ReceiptConflict,
    RefundConflict,
    RefundResult,
    RefundTooLarge,
    SpendAboveCap,
    UnknownReceipt,
    spend_cap,
)
from bot.loyalty.ledger import Ledger
from bot.loyalty.money import api_amount
from bot.loyalty.program_settings import effective_settings
from bot.marketing.reports import WINDOW_DAYS, Group, TriggerStats, trigger_report
from bot.storage.errors import IntegrityError
from bot.storage.models import PosKey
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
CLOCK_SKEW = timedelta(minutes=2)  # a till's clock this far ahead still counts as "now"
T = TypeVar("T")

_STATUS = {CardBlocked: 423, FutureDate: 422, ReceiptConflict: 409, RefundConflict: 409,
           UnknownReceipt: 404}


def refused(error: CheckoutError) -> ApiError:
    if isinstance(error, SpendAboveCap):
        return ApiError(422, error.code, f"at most {error.cap} points may pay for this purchase",
                        cap=error.cap, requested=error.requested)
    if isinstance(error, RefundTooLarge):
        left = api_amount(error.refundable)
        return ApiError(409, error.code, f"at most {left} can still be refunded", refundable=left)
    if isinstance(error, CustomerGone):  # no internal ids for the till
        return ApiError(404, error.code, "this customer is no longer in the program")
    return ApiError(_STATUS.get(type(error), 422), error.code, str(error))


def purchase_body(result: PurchaseResult) -> dict[str, Any]:
    return {"purchase_id": result.purchase_id, "receipt_id": result.receipt_id,
            "amount": api_amount(result.amount), "earned": result.earned,
            "spent": result.spent, "balance": result.balance, "tier": result.tier}


def refund_body(result: RefundResult) -> dict[str, Any]:
    return {"receipt_id": result.receipt_id, "refunded": api_amount(result.amount),
            "refunded_total": api_amount(result.refunded_total),
            "points_returned": result.points_returned,
            "points_reversed": result.points_reversed, "balance": result.balance}


@dataclass(frozen=True, slots=True)
class Till:
    """Who calls (the key decides the outlet) and the rules in force for the request."""

    key: PosKey
    settings: Settings

    @property
    def id(self) -> int:
        return self.key.id

    @property
    def outlet_id(self) -> int:
        return self.key.outlet_id


class PosApi:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.services = core.services
        self.region = core.services.settings.shop.phone_region

    # --- routes (the key is checked first, then the request, then the rules) -----------

    async def card(self, request: web.Request) -> web.Response:
        now = self.services.clock.now()

        async def work(uow: UnitOfWork, till: Till) -> dict[str, Any]:
            typed = request.query.get("amount")
            purchase_amount = amount(typed) if typed is not None else None
            customer = await by_card(uow, self.services.scanner, request.match_info["card"], now)
            checkout, program = self._checkout(uow, till), till.settings.program
            balance = await checkout.ledger.balance(customer.id)
            body = card_summary(customer, balance, program)
            if purchase_amount is not None:
                tier = checkout.tier_for_next_purchase(customer, purchase_amount)
                cap = spend_cap(purchase_amount, balance, tier, program)
                body["spend_cap"] = 0 if customer.blocked_at else cap
            return body

        return web.json_response(await self._transaction(request, work))

    async def enrol(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = self.services.clock.now()
        today = now.astimezone(self.services.timezone).date()

        async def work(uow: UnitOfWork, till: Till) -> tuple[dict[str, Any], bool]:
            form = enrol_form(json_object(raw), self.region, today)
            customer, created = await enrol(uow, form, now)
            balance = 0 if created else await Ledger(uow, self.services.clock).balance(customer.id)
            return card_summary(customer, balance, till.settings.program), created

        body, created = await self._transaction(request, work)
        return web.json_response(body, status=201 if created else 200)

    async def purchase(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = self.services.clock.now()

        async def work(uow: UnitOfWork, till: Till) -> PurchaseResult:
            form = purchase_form(json_object(raw), self.region)
            if form.card is not None:  # locked as found: the checkout's lock costs nothing
                customer = await by_card(uow, self.services.scanner, form.card, now, lock=True)
            else:
                customer = await by_phone(uow, form.phone or "", lock=True)
            return await self._checkout(uow, till).purchase(
                customer_id=customer.id, outlet_id=till.outlet_id, receipt_id=form.receipt_id,
                amount=form.amount, spend=form.spend, occurred_at=_at_most_now(form.occurred_at, now),
                source="pos", till=till.id)

        def notices(result: PurchaseResult, settings: Settings) -> list[Notification]:
            if result.replayed:
                return []
            return list(purchase_notifications(result, settings))

        result = await self._transaction(request, work, notices)
        return web.json_response(purchase_body(result), status=200 if result.replayed else 201)

    async def refund(self, request: web.Request) -> web.Response:
        raw = await request.read()

        async def work(uow: UnitOfWork, till: Till) -> RefundResult:
            receipt = identifier(request.match_info["receipt_id"], "invalid_receipt_id", "receipt_id")
            form = refund_form(json_object(raw, empty_ok=True))
            return await self._checkout(uow, till).refund(
                outlet_id=till.outlet_id, receipt_id=receipt or "",
                amount=form.amount, refund_key=form.refund_id, till=till.id)

        def notices(result: RefundResult, settings: Settings) -> list[Notification]:
            if result.replayed or result.customer_id is None:
                return []
            return [refund_notice(result, settings)]

        result = await self._transaction(request, work, notices)
        return web.json_response(refund_body(result))

    async def trigger_report(self, request: web.Request) -> web.Response:
        """Trigger reports for the sends of the shop-local days from..to (both included);
        admin keys only. The key is checked before the dates: no key, no hint."""
        zone = self.services.timezone

        async def work(uow: UnitOfWork, till: Till) -> tuple[date, date, list[TriggerStats]]:
            first, last = _day(request, "from"), _day(request, "to")
            if last < first:
                raise ApiError(422, "invalid_date", "to must not be before from")
            start, end = _local_days(first, last, zone)
            return first, last, await trigger_report(uow, start, end, WINDOW_DAYS)

        first, last, report = await self._transaction(request, work, admin=True)
        return web.json_response({"from": first.isoformat(), "to": last.isoformat(),
                                  "window_days": WINDOW_DAYS,
                                  "triggers": [report_body(stats) for stats in report]})

    # --- plumbing ----------------------------------------------------------------------

    def _checkout(self, uow: UnitOfWork, till: Till) -> Checkout:
        return Checkout(uow, self.services.clock, till.settings.program, self.services.timezone)

    async def _transaction(self, request: web.Request,
                           work: Callable[[UnitOfWork, Till], Awaitable[T]],
                           notices: Callable[[T, Settings], Sequence[Notification]] = lambda *_: (),
                           *, admin: bool = False) -> T:
        """Authenticate, do the work and queue its notices in one transaction. A
        unique-constraint race (the same receipt or phone arriving twice at once) is retried
        once: the second attempt sees the winner's row and answers as a replay, or as a
        conflict."""
        key = bearer_key(request.headers.get("Authorization"))
        for attempt in (1, 2):
            try:
                async with self.core.unit_of_work() as uow:
                    till = Till(await authenticate(uow, key, admin=admin),
                                await effective_settings(uow, self.services.settings))
                    result = await work(uow, till)
                    queued = await self.core.notifier.enqueue(
                        uow, notices(result, till.settings), self.services.clock.now())
                    await uow.commit()
                if queued:
                    self.core.notifier.on_enqueued()
                return result
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("POS request lost a unique-constraint race; retrying once")
            except CheckoutError as error:
                raise refused(error) from None
        raise AssertionError("unreachable")


def _day(request: web.Request, name: str) -> date:
    typed = request.query.get(name, "")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", typed):  # fromisoformat also takes 20260401
            raise ValueError(typed)
        return date.fromisoformat(typed)
    except ValueError:
        raise ApiError(422, "invalid_date", f"{name} must be a date, YYYY-MM-DD") from None


def _local_days(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The shop-local days first..last as the UTC moments [start, end). At the ends of the
    calendar (0001-01-01 east of UTC, 9999-12-31) these leave datetime's range: 422."""
    try:
        return (datetime.combine(first, time(0), zone).astimezone(UTC),
                datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC))
    except OverflowError:
        raise ApiError(422, "invalid_date", "the dates are out of range") from None


def report_body(stats: TriggerStats) -> dict[str, Any]:
    def group(g: Group) -> dict[str, Any]:
        return {"size": g.size, "came_back": g.came_back, "conversion": float(g.conversion),
                "purchases": g.purchases, "revenue": api_amount(g.revenue),
                "average_check": api_amount(g.average_check), "points_spent": g.points_spent}

    return {"trigger": stats.trigger, "eligible": stats.eligible, "sent": stats.sent,
            "held_out": stats.held_out, "delivered": stats.delivered, "failed": stats.failed,
            "paid": stats.paid, "waiting": stats.away,
            "points_given": stats.points_given, "uplift": float(stats.uplift),
            "recipients": group(stats.recipients), "holdout": group(stats.holdout)}


def _at_most_now(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is not None and now < moment <= now + CLOCK_SKEW:
        return now
    return moment


POS_API = web.AppKey("pos_api", PosApi)


def install(app: web.Application, core: Core) -> PosApi:
    api = PosApi(core)
    app.middlewares.append(api_errors)
    app.router.add_get(f"{PREFIX}/cards/{{card}}", api.card, allow_head=False)
    app.router.add_post(f"{PREFIX}/customers", api.enrol)
    app.router.add_post(f"{PREFIX}/purchases", api.purchase)
    app.router.add_post(f"{PREFIX}/purchases/{{receipt_id:.+}}/refund", api.refund)
    app.router.add_get(f"{PREFIX}/reports/triggers", api.trigger_report, allow_head=False)
    spec = openapi.document()

    async def description(_request: web.Request) -> web.Response:
        return web.json_response(spec)

    app.router.add_get(f"{PREFIX}/openapi.json", description, allow_head=False)
    app[POS_API] = api
    return api

