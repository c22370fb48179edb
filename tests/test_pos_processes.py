"""Two tills on two real web processes over one PostgreSQL, buying and refunding on one card
at once: every purchase counts once, the card's counts and points add up, and ``loyalty-bot
stats check`` finds the day book kept by those writes equal to the one counted from the rows
(a purchase's rows, its points and the book are plain statements past the ORM)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.api.keys import create_key
from bot.cli import main as cli
from bot.config import Settings
from bot.core.clock import SystemClock
from bot.loyalty.ledger import Ledger
from bot.storage import database
from bot.storage.models import Customer, PointLot, PointOperation, Purchase
from bot.storage.uow import UnitOfWork
from tests.support.process import BotProcess
from tests.test_roles import run_as

STARTING = 60.0  # only reached when something is wrong


async def till_key(settings: Settings) -> str:
    engine = database.create_engine(settings.database.url)
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            _, key = await create_key(uow, "Main", None, SystemClock().now(), "till")
            await uow.commit()
        return key
    finally:
        await engine.dispose()


async def call(http: aiohttp.ClientSession, process: BotProcess, key: str, path: str,
               body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(f"http://127.0.0.1:{process.port}/api/v1/{path}", json=body,
                         headers={"Authorization": f"Bearer {key}"}) as response:
        return response.status, await response.json()


async def test_two_processes_buying_and_refunding_on_one_card_keep_every_figure(
        pg_settings, processes, tmp_path: Path, monkeypatch):
    key = await till_key(pg_settings)
    web = [run_as("web", pg_settings, tmp_path, f"web-{n}") for n in "ab"]
    for process in web:
        processes.append(process)
        await process.start()
        await process.until(lambda p=process: "listening on" in p.text(), "the web process",
                            timeout=STARTING)
    async with aiohttp.ClientSession() as http:
        status, card = await call(http, web[0], key, "customers", {"phone": "+79001234567"})
        assert status in (200, 201), card
        engine = database.create_engine(pg_settings.database.url)
        try:
            async with UnitOfWork(database.session_factory(engine)) as uow:
                customer = await uow.customers.by_card_number(card["card_number"])
                assert customer is not None
                await Ledger(uow, SystemClock()).earn(customer.id, 1000, "gift", timedelta(days=100))
                await uow.commit()
            first = [await call(http, web[n % 2], key, "purchases", {
                "card": card["card_number"], "amount": "300.00", "receipt_id": f"A{n}"})
                for n in range(4)]
            assert [status for status, _ in first] == [201] * 4
            answers = await asyncio.gather(
                *(call(http, web[n % 2], key, "purchases", {
                    "card": card["card_number"], "amount": "200.00", "receipt_id": f"B{n}",
                    "spend_points": 5}) for n in range(10)),
                *(call(http, web[n % 2], key, "purchases", {
                    "card": card["card_number"], "amount": "200.00", "receipt_id": "B0",
                    "spend_points": 5}) for n in range(2)),  # a till sending B0 again
                *(call(http, web[n % 2], key, f"purchases/A{n}/refund", {}) for n in range(3)))
            assert sorted(status for status, _ in answers[:12]) == [200] * 2 + [201] * 10
            assert {body["purchase_id"] for _, body in answers[:12]} == {
                body["purchase_id"] for _, body in answers[:10]}
            assert all(status == 200 for status, _ in answers[12:]), answers[12:]
            async with UnitOfWork(database.session_factory(engine)) as uow:
                row = (await uow.session.execute(select(Customer))).scalars().one()
                counted, net = (await uow.session.execute(
                    select(func.count(), func.sum(Purchase.amount - Purchase.refunded_amount))
                    .where(Purchase.refunded_amount < Purchase.amount))).one()
                lots = await uow.session.scalar(select(func.sum(PointLot.remaining)))
                operations = await uow.session.scalar(select(func.sum(PointOperation.amount)))
            assert (row.purchase_count, row.total_spent) == (counted, net) == (11, 2_300_00)
            assert lots == operations
        finally:
            await engine.dispose()
    monkeypatch.setenv("LOYALTY_DATABASE__URL", pg_settings.database.url)
    assert await asyncio.to_thread(cli, ["stats", "check"]) == 0
