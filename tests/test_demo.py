"""``loyalty-bot demo``: a small demo shop on an empty migrated database has the expected
shape (a year of purchases, lapsed customers, every tier, web identities, valid phones), its
ledger is consistent customer by customer, the fast path writes exactly the rows the real
services write, a second run refuses, and the owner's /stats and /segments show figures."""

from __future__ import annotations

import io
import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.loyalty.demo import DAYS, fill, run_demo
from bot.loyalty.ledger import Ledger
from bot.loyalty.tiers import current_tier
from bot.marketing.triggers import run_pass
from bot.storage import database
from bot.storage.models import (
    Base,
    Customer,
    Identity,
    OutboxMessage,
    PointLot,
    PointOperation,
    Purchase,
    Refund,
    TriggerSend,
)
from bot.storage.uow import UnitOfWork
from tests.chat import OWNER, owner_settings, text_of
from tests.conftest import START, sqlite_url

CUSTOMERS = 200


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
async def demo(settings: Settings, clock: FrozenClock) -> str:
    out = io.StringIO()
    assert await run_demo(settings, CUSTOMERS, seed=1, clock=clock, out=out) == 0
    return out.getvalue()


async def rows(url: str, query):  # type: ignore[no-untyped-def]
    engine = database.create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(query)).all()
    finally:
        await engine.dispose()


async def test_a_small_demo_shop_has_the_expected_shape(demo, db_url):
    assert f"{CUSTOMERS:,} customers" in demo and "points outstanding" in demo
    now = START
    customers = await rows(db_url, select(Customer))
    assert len(customers) == CUSTOMERS
    assert all(now - timedelta(days=DAYS + 1) <= c.registered_at < now for c in customers)
    phones = [c.phone for c in customers]
    assert len(set(phones)) == CUSTOMERS
    assert all(re.fullmatch(r"\+79\d{9}", p) and phonenumbers.is_valid_number(
        phonenumbers.parse(p)) for p in phones)
    assert 0.55 <= sum(c.birth_month is not None for c in customers) / CUSTOMERS <= 0.85
    assert {"qr-at-till", "instagram", "friend"} <= {c.source for c in customers}
    identities = await rows(db_url, select(Identity.channel, Identity.customer_id, Identity.reachable))
    assert sorted(i.customer_id for i in identities) == sorted(c.id for c in customers)
    # web chat visitors nobody will ever be: no messenger reaches them (nothing is sent)
    assert {(i.channel, i.reachable) for i in identities} == {("web", False)}

    purchases = await rows(db_url, select(Purchase))
    assert 5 * CUSTOMERS <= len(purchases) <= 20 * CUSTOMERS
    assert all(now - timedelta(days=365) < p.occurred_at < now for p in purchases)
    average = sum(p.amount for p in purchases) // len(purchases)
    assert 300_00 <= average <= 550_00
    weekend = sum(p.occurred_at.weekday() >= 5 for p in purchases) / len(purchases)
    assert weekend > 2 / 7  # more on weekends
    last = {}
    for p in purchases:
        last[p.customer_id] = max(last.get(p.customer_id, p.occurred_at), p.occurred_at)
    lapsed = sum(now - moment > timedelta(days=60) for moment in last.values())
    assert 0.1 * CUSTOMERS <= lapsed <= 0.6 * CUSTOMERS
    assert any(p.points_spent for p in purchases)
    assert await rows(db_url, select(Refund))

    settings = Settings()
    tiers = Counter(getattr(current_tier(c.purchase_count, settings.program, c.total_spent),
                            "code", None) for c in customers)
    assert all(tiers[code] >= 10 for code in ("silver", "gold", "platinum")), tiers
    counted = Counter(p.customer_id for p in purchases if p.amount > p.refunded_amount)
    net = Counter()
    for p in purchases:
        net[p.customer_id] += p.amount - p.refunded_amount
    assert all(c.purchase_count == counted[c.id] and c.total_spent == net[c.id] for c in customers)


async def test_the_ledger_is_consistent_for_every_customer(demo, db_url):
    lots = await rows(db_url, select(PointLot))
    assert lots and all(0 <= lot.remaining <= lot.amount for lot in lots)
    live, every = Counter(), Counter()
    for lot in lots:
        every[lot.customer_id] += lot.remaining
        if lot.expires_at > START and lot.available_at <= START:
            live[lot.customer_id] += lot.remaining
    operations = Counter()
    for customer_id, amount in await rows(db_url, select(PointOperation.customer_id,
                                                         PointOperation.amount)):
        operations[customer_id] += amount
    engine = database.create_engine(db_url)
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            ledger = Ledger(uow, FrozenClock(START))
            for customer_id in range(1, CUSTOMERS + 1):
                balance = await ledger.balance(customer_id)
                assert balance == live[customer_id] >= 0
                # every change is an operation; what is due has been burnt by the expiry pass
                assert operations[customer_id] == every[customer_id] == balance
    finally:
        await engine.dispose()
    kinds = {kind for (kind,) in await rows(db_url, select(PointOperation.kind).distinct())}
    assert kinds == {"earn", "spend", "expire"}


async def test_a_second_run_refuses_and_writes_nothing(demo, settings, clock, db_url):
    out = io.StringIO()
    assert await run_demo(settings, 50, seed=2, clock=clock, out=out) == 1
    assert "already has 200 customers" in out.getvalue()
    assert (await rows(db_url, select(func.count()).select_from(Customer)))[0][0] == CUSTOMERS


async def test_the_fast_path_writes_exactly_what_the_services_write(
        db_url, tmp_path: Path, migrated_template: Path):
    other = tmp_path / "services.db"
    shutil.copy(migrated_template, other)
    settings = Settings()
    written = {}
    for url, services in ((db_url, False), (sqlite_url(other), True)):
        engine = database.create_engine(url)
        try:
            report = await fill(lambda engine=engine: UnitOfWork(database.session_factory(engine)),
                                settings, 40, seed=7, clock=FrozenClock(START), services=services)
        finally:
            await engine.dispose()
        written[services] = {
            name: sorted(tuple(row) for row in await rows(url, select(Base.metadata.tables[name])))
            for name in ("customers", "identities", "purchases", "refunds", "point_operations",
                         "point_lots", "point_spends")}
        written[services]["report"] = [report.purchases, report.refunds, report.revenue,
                                       report.outstanding]
    fast, slow = written[False], written[True]
    assert fast["refunds"], "the seed should give a refund to compare"
    assert any(row[5] for row in fast["purchases"]), "and points spent"
    for name in fast:
        assert fast[name] == slow[name], name


async def test_the_owner_sees_figures_and_segments(demo, chat):
    owner = chat(OWNER)
    replies = await owner.send("/stats")
    text = text_of(replies[:1])
    assert f"Участников: {CUSTOMERS}" in text
    purchases = re.search(r"Покупок: ([\d\xa0 ]+) на", text)
    assert purchases and int(re.sub(r"\D", "", purchases[1])) > 0
    assert "остаток сейчас 0 " not in text
    assert re.search(r"Баллы: начислено [1-9]", text) and "сгорело 0;" not in text
    segments = text_of(await owner.send("/segments"))
    assert f"\n{CUSTOMERS} участников\n" in segments
    assert re.search(r"🏆 Чемпионы: [1-9]", segments)
    channels = text_of(await owner.press("segments:channel"))
    assert f"Веб-чат: {CUSTOMERS} (100 %)" in channels  # everyone reachable in the web chat
    assert re.search(r"Платина: [1-9]", text_of(await owner.press("segments:tier")))
    assert re.search(r"91–180 дн\.: [1-9]", text_of(await owner.press("segments:recency")))


async def test_running_the_shop_after_the_demo_sends_its_customers_nothing(demo, app, chat):
    """`loyalty-bot run` on the demo's database: its daily trigger passes (today and the
    coming weeks, when more of them lapse or have a birthday) write nothing for them."""
    owner = chat(OWNER)
    await owner.sign_up()  # the owner's own card is a real one: not a demo customer
    for days in (0, 1, 15, 40):
        planned = await run_pass(app.core, START + timedelta(days=days, hours=1))
        assert {p.card_number for p in planned} <= {(await owner_card(app))}
    async with app.core.unit_of_work() as uow:
        demo_ids = select(Identity.id).where(Identity.channel == "web")
        rows = await uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.identity_id.in_(demo_ids)))
        sends = await uow.session.scalar(select(func.count()).select_from(TriggerSend)
                                         .where(TriggerSend.customer_id <= CUSTOMERS))
    assert (rows, sends) == (0, 0)


async def owner_card(app) -> str:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Customer.card_number).where(
            Customer.id > CUSTOMERS))).scalar_one()


def opened_by(line: str, monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    """The settings the printed «open it: …» command runs with (its variables set, its
    arguments parsed as the command line parses them)."""
    import shlex

    from bot.cli import parser
    from bot.config import load_settings

    words = shlex.split(line.removeprefix("open it: "))
    while "=" in words[0]:
        name, _sep, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert words[0] == "loyalty-bot"
    args = parser().parse_args(words[1:])
    assert args.command == "run"
    return load_settings(args.config)


def test_the_command_line(db_url, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no ./config.toml of the checkout
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)
    monkeypatch.setenv("LOYALTY_DATABASE__URL", db_url)
    assert main(["demo", "--customers", "30", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "30 customers" in out
    assert f"the demo shop is in {db_url.removeprefix('sqlite+aiosqlite:///')};" in out
    [line] = [line for line in out.splitlines() if line.startswith("open it: ")]
    assert line == f"open it: LOYALTY_DATABASE__URL={db_url} loyalty-bot run"
    monkeypatch.delenv("LOYALTY_DATABASE__URL")
    assert opened_by(line, monkeypatch).database.url == db_url  # that command opens this shop
    assert "web chat at http://127.0.0.1:8080/" in out and "/start" in out
    monkeypatch.setenv("LOYALTY_DATABASE__URL", db_url)
    assert main(["demo"]) == 1
    assert "already has 30 customers" in capsys.readouterr().out


def test_with_a_config_file_it_prints_that_file(tmp_path, migrated_template, monkeypatch, capsys):
    from bot.cli import main

    shutil.copy(migrated_template, tmp_path / "shop.db")
    (tmp_path / "my shop.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///shop.db"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)
    monkeypatch.delenv("LOYALTY_DATABASE__URL", raising=False)
    assert main(["--config", "my shop.toml", "demo", "--customers", "20"]) == 0
    out = capsys.readouterr().out
    assert f"the demo shop is in {tmp_path / 'shop.db'};" in out
    [line] = [line for line in out.splitlines() if line.startswith("open it: ")]
    assert line == "open it: loyalty-bot --config 'my shop.toml' run"
    assert opened_by(line, monkeypatch).database.url == "sqlite+aiosqlite:///shop.db"


async def test_on_postgresql_the_ids_go_on_after_the_demo(pg_database_url):
    """The bulk rows carry their ids: the sequences must be moved past them, so the shop's
    next sign-up and purchase (through the services) get fresh ids."""
    from bot.loyalty.checkout import Checkout

    await database.upgrade(pg_database_url)
    settings = Settings(database={"url": pg_database_url})
    assert await run_demo(settings, 40, seed=5, clock=FrozenClock(START), out=io.StringIO()) == 0
    engine = database.create_engine(pg_database_url)
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            customer = Customer(card_number="100000000009", consent_at=START, registered_at=START,
                                created_at=START)
            uow.session.add(customer)
            await uow.session.flush()
            assert customer.id == 41
            clock = FrozenClock(START + timedelta(minutes=1))
            await Ledger(uow, clock).earn(customer.id, 100, "welcome", timedelta(days=90))
            outlet = (await uow.outlets.default()).id
            result = await Checkout(uow, clock, settings.program).purchase(
                customer_id=customer.id, outlet_id=outlet, receipt_id="after-demo",
                amount=1000_00, spend=0)
            await uow.commit()
        assert result.balance == 100 + 30  # the welcome bonus and Silver's 3 %
    finally:
        await engine.dispose()
