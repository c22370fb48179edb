"""A till for tests: an API key of an outlet and an HTTP client of the application's own
aiohttp app; requests answer (status, JSON body). Also a recording stand-in messenger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.api.keys import create_key
from bot.app import Application
from bot.channels.base import Channel
from bot.core.context import ChannelInfo
from bot.core.replies import Text
from bot.loyalty.cards import luhn_check_digit
from bot.loyalty.ledger import Ledger
from tests.chat import TELEGRAM_LIKE
from tests.conftest import START

PHONE = "+79001234567"
UNKNOWN_CARD = "40000000000" + luhn_check_digit("40000000000")  # well formed, nobody's


@dataclass
class Till:
    """A till with an API key; requests answer (status, JSON body)."""

    app: Application
    client: TestClient
    key: str

    async def call(self, method: str, path: str, body: Any = None, *, key: str | None = None,
                   raw: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key or self.key}"} if key != "" else {}
        response = await self.client.request(method, path, headers=headers,
                                             json=body if raw is None else None, data=raw)
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()

    async def card(self, card: str, amount: str | None = None) -> tuple[int, Any]:
        query = f"?amount={amount}" if amount is not None else ""
        return await self.call("GET", f"/api/v1/cards/{card}{query}")

    async def buy(self, **body: Any) -> tuple[int, Any]:
        return await self.call("POST", "/api/v1/purchases", body)

    async def refund(self, receipt: str, body: Any = None) -> tuple[int, Any]:
        return await self.call("POST", f"/api/v1/purchases/{receipt}/refund", body)

    async def enrol(self, **body: Any) -> tuple[int, Any]:
        return await self.call("POST", "/api/v1/customers", body)


@dataclass
class Recorder(Channel):
    """Stands in for the messenger the customer used: records what is sent."""

    name: str = "telegram"
    sent: list[tuple[str, str]] = field(default_factory=list)

    def info(self) -> ChannelInfo:
        return TELEGRAM_LIKE

    async def send_text(self, recipient: str, reply: Text) -> None:
        self.sent.append((recipient, reply.text))


async def new_key(app: Application, outlet: str = "Main", role: str = "till") -> str:
    async with app.core.unit_of_work() as uow:
        if await uow.outlets.by_name(outlet) is None:
            await uow.outlets.add(outlet, START)
        _, key = await create_key(uow, outlet, None, START, role)
        await uow.commit()
    return key


async def member(till: Till, phone: str = PHONE, points: int = 0, purchases: int = 0) -> dict:
    """A customer enrolled at the till, with a gift of ``points`` and ``purchases`` made."""
    status, card = await till.enrol(phone=phone, name="Anna")
    assert status in (200, 201), card
    async with till.app.core.unit_of_work() as uow:
        customer = await uow.customers.by_card_number(card["card_number"])
        customer.purchase_count = purchases
        if points:
            await Ledger(uow, till.app.core.services.clock).earn(
                customer.id, points, "gift", timedelta(days=100))
        await uow.commit()
    return card


async def count(app: Application, what: Any) -> int:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(func.count()).select_from(what))).scalar_one()
