"""The wallet card follows every change of points or tier, whatever made it: a purchase, a
trigger's gift, points burning, a change written straight through the ledger. Each commit
queues one outbox update per customer with a wallet card (none for the others), the outbox
pushes it to Apple (fake, 127.0.0.1), retries when Apple is busy, and an hourly renewal
keeps the barcode on an idle card fresh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import Application, build
from bot.config import Settings
from bot.core.replies import Picture
from bot.loyalty.ledger import Ledger
from bot.loyalty.program_settings import set_value, value_at
from bot.marketing.triggers import ORDER, run_pass
from bot.scheduler import build_scheduler
from bot.scheduler.housekeeping import expire_points
from bot.storage.models import OutboxMessage
from bot.wallet.updates import renew_old_cards
from tests.fakes.apns import FakeApns
from tests.fakes.google_wallet import FakeGoogleWallet
from tests.support.wallet_pki import PASS_TYPE_ID, PUBLIC_URL, with_wallet
from tests.test_wallet_apple import (  # noqa: F401 - apns, apple_app, client, pki are fixtures
    PUSH_TOKEN,
    apns,
    apple_app,
    auth,
    client,
    download,
    fields,
    member,
    pass_json,
    pki,
    register,
    unzip,
)
from tests.till import Recorder, Till, new_key


async def wallet_card(client: TestClient, app: Application) -> dict:
    """A member with the card in Apple Wallet on a registered device."""
    card = pass_json(await download(client, await member(app)))
    await register(client, card)
    return card


async def latest(client: TestClient, card: dict) -> dict:
    response = await client.get(f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{card['serialNumber']}",
                                headers=auth(card))
    assert response.status == 200
    return pass_json(unzip(await response.read()))


async def wallet_rows(app: Application, status: str | None = None) -> int:
    async with app.core.unit_of_work() as uow:
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "wallet")
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
        return (await uow.session.execute(stmt)).scalar_one()


async def test_a_birthday_gift_updates_the_card(client, apple_app, apns: FakeApns, clock) -> None:  # type: ignore[no-untyped-def]
    card = await wallet_card(client, apple_app)
    apple_app.core.notifier.channels["telegram"] = Recorder()  # the greeting's messenger
    triggers = apple_app.settings.triggers
    triggers.holdout_percent = 0
    for name in ORDER:
        getattr(triggers, name).enabled = name == "birthday"
    morning = datetime(2026, 3, 11, 8, 5, tzinfo=UTC)  # 3 days before 14 March, 11:05 Moscow
    clock.set(morning)
    [gift] = await run_pass(apple_app.core, morning)
    assert gift.points == 500
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    assert fields(await latest(client, card))["balance"][1] == 600


async def test_points_burning_update_the_card(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    card = await wallet_card(client, apple_app)
    clock.advance(days=91)  # the welcome points (90 days) burn
    assert await expire_points(apple_app.core) == 100
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    assert fields(await latest(client, card))["balance"][1] == 0


async def test_any_write_through_the_ledger_is_seen(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    """A feature that writes points its own way still updates the card: the session sees it."""
    card = await wallet_card(client, apple_app)
    async with apple_app.core.unit_of_work() as uow:
        customer = await uow.wallet_passes.by_serial(card["serialNumber"])
        await Ledger(uow, clock).adjust(customer.customer_id, 25, note="sorry", actor=None,
                                        lifetime=timedelta(days=30))
        await uow.commit()
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    assert fields(await latest(client, card))["balance"][1] == 125


async def test_one_update_waits_per_customer_and_none_without_a_wallet_card(  # type: ignore[no-untyped-def]
        client, apple_app, apns, clock) -> None:
    card = await wallet_card(client, apple_app)
    till = Till(apple_app, client, await new_key(apple_app))
    number = fields(card)["card"][1].replace(" ", "")
    for receipt in ("R1", "R2", "R3"):
        assert (await till.buy(card=number, amount="100.00", receipt_id=receipt))[0] == 201
    assert await wallet_rows(apple_app, "pending") == 1
    status, other = await till.enrol(phone="+79001112233", name="Boris")
    assert status == 201
    assert (await till.buy(card=other["card_number"], amount="100.00", receipt_id="R4"))[0] == 201
    assert await wallet_rows(apple_app) == 1  # Boris has no wallet card: nothing to update
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    assert fields(await latest(client, card))["balance"][1] == 100 + 3 * 3


async def test_a_busy_apple_is_tried_again(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    card = await wallet_card(client, apple_app)
    apns.answers[PUSH_TOKEN] = (503, "ServiceUnavailable")
    till = Till(apple_app, client, await new_key(apple_app))
    await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="100.00", receipt_id="R1")
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1 and await wallet_rows(apple_app, "pending") == 1
    apns.answers.clear()
    clock.advance(minutes=1)
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 2 and await wallet_rows(apple_app, "sent") == 1


async def test_apple_refusing_the_certificate_fails_the_update_after_its_attempts(  # type: ignore[no-untyped-def]
        client, apple_app, apns, clock) -> None:
    """A refusal that waiting won't mend (a wrong certificate or topic) is an attempt like any
    failure, not a «later» that would keep the row and the whole wallet channel waiting."""
    card = await wallet_card(client, apple_app)
    apns.answers[PUSH_TOKEN] = (403, "BadCertificate")
    till = Till(apple_app, client, await new_key(apple_app))
    await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="100.00", receipt_id="R1")
    for _ in range(8):
        await apple_app.outbox.send_due()
        clock.advance(minutes=10)
    assert len(apns.pushes) == 5 and await wallet_rows(apple_app, "failed") == 1


async def test_two_changes_within_one_second_both_reach_the_device(client, apple_app, apns) -> None:  # type: ignore[no-untyped-def]
    """Last-Modified has whole seconds: each update must fall in a later second, or the
    device's If-Modified-Since of the first would hide the second (a 304)."""
    card = await wallet_card(client, apple_app)
    latest_pass = f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{card['serialNumber']}"
    till = Till(apple_app, client, await new_key(apple_app))
    number = fields(card)["card"][1].replace(" ", "")
    await till.buy(card=number, amount="1000.00", receipt_id="R1")
    await apple_app.outbox.send_due()
    first = await client.get(latest_pass, headers=auth(card))
    await till.buy(card=number, amount="1000.00", receipt_id="R2")  # the clock has not moved
    await apple_app.outbox.send_due()
    second = await client.get(latest_pass, headers={
        **auth(card), "If-Modified-Since": first.headers["Last-Modified"]})
    assert second.status == 200
    assert fields(pass_json(unzip(await second.read())))["balance"][1] == 160


async def test_renamed_tiers_reach_the_cards_within_the_hour(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    """The owner renames a tier in /settings: no customer's points changed, yet every card
    that shows the tier is out of date."""
    card = await wallet_card(client, apple_app)
    till = Till(apple_app, client, await new_key(apple_app))
    await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="1000.00", receipt_id="R1")
    await apple_app.outbox.send_due()
    assert fields(await latest(client, card))["tier"][1] == "Silver"
    base = apple_app.core.services.settings
    tiers = value_at(base, "program.tiers")
    tiers[0]["name"] = "Argent"
    clock.advance(minutes=5)
    async with apple_app.core.unit_of_work() as uow:
        await set_value(uow, base, "program.tiers", tiers, actor=None, at=clock.now())
        await uow.commit()
    assert await renew_old_cards(apple_app.core) == 1
    await apple_app.outbox.send_due()
    assert fields(await latest(client, card))["tier"][1] == "Argent"
    assert await renew_old_cards(apple_app.core) == 0  # told once


async def test_an_idle_card_gets_a_fresh_barcode(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    card = await wallet_card(client, apple_app)
    scanner = apple_app.core.services.scanner
    assert await renew_old_cards(apple_app.core) == 0  # changed just now
    clock.advance(days=31)  # a third of barcode_days (90) without a change
    assert await renew_old_cards(apple_app.core) == 1
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    renewed = (await latest(client, card))["barcodes"][0]["message"].partition("start=")[2]
    lives_until = scanner.verify(renewed, clock.now()).card.expires_at
    assert lives_until >= clock.now() + timedelta(days=45)
    assert "renew-wallet-cards" in {job.id for job in build_scheduler(apple_app.core).get_jobs()}


async def test_points_joined_in_from_another_card_update_the_card(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    """A merge moves points with bulk writes, not through the ledger: the session sees it too."""
    card = await wallet_card(client, apple_app)
    till = Till(apple_app, client, await new_key(apple_app))
    status, other = await till.enrol(phone="+79001112233", name="Boris")
    assert status == 201
    async with apple_app.core.unit_of_work() as uow:
        survivor = (await uow.wallet_passes.by_serial(card["serialNumber"])).customer_id
        merged = (await uow.customers.by_card_number(other["card_number"])).id
        await Ledger(uow, clock).earn(merged, 40, "gift", timedelta(days=30))
        await uow.commit()
    await apple_app.outbox.send_due()
    assert apns.pushes == []  # Boris's gift: he has no wallet card
    async with apple_app.core.unit_of_work() as uow:
        await uow.customers.lock(min(survivor, merged))
        await uow.customers.lock(max(survivor, merged))
        await uow.customers.merge(survivor, merged)
        await uow.commit()
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1
    assert fields(await latest(client, card))["balance"][1] == 140


@pytest.fixture
async def app_on_each_database(any_db_url: str, clock, pki, apns) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    settings = Settings(database={"url": any_db_url}, card={"secret": "test-signing-key-0123456789"},
                        shop={"name": "Coffee Point"}, web={"public_url": "https://shop.example"},
                        wallet={"apple": pki.apple(apns.url)})
    application = await build(settings, clock)
    yield application
    await application.close()


async def test_on_sqlite_and_postgresql_a_refund_updates_the_card(app_on_each_database, apns, clock) -> None:  # type: ignore[no-untyped-def]
    app = app_on_each_database
    async with TestClient(TestServer(app.web)) as client:
        card = await wallet_card(client, app)
        till = Till(app, client, await new_key(app))
        number = fields(card)["card"][1].replace(" ", "")
        assert (await till.buy(card=number, amount="1000.00", receipt_id="R1"))[0] == 201
        await app.outbox.send_due()
        clock.advance(minutes=1)
        assert (await till.refund("R1"))[0] == 200
        assert await wallet_rows(app, "pending") == 1
        await app.outbox.send_due()
        assert len(apns.pushes) == 2
        assert fields(await latest(client, card))["balance"] == ("Points", 100)
        assert fields(await latest(client, card))["tier"] == ("Tier", "Member")


@pytest.fixture
async def holding_app(settings: Settings, clock, pki, apns) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    """Purchase points can be spent only 14 days after the purchase."""
    holding = settings.model_copy(update={
        "program": settings.program.model_copy(update={"purchase_points_hold_days": 14})})
    application = await build(with_wallet(holding, apple=pki.apple(apns.url)), clock)
    yield application
    await application.close()


async def test_points_that_become_spendable_later_update_the_card_then(holding_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    """Held points join the balance with no write at all: the hourly job sees them."""
    async with TestClient(TestServer(holding_app.web)) as client:
        card = await wallet_card(client, holding_app)
        till = Till(holding_app, client, await new_key(holding_app))
        number = fields(card)["card"][1].replace(" ", "")
        assert (await till.buy(card=number, amount="1000.00", receipt_id="R1"))[0] == 201
        await holding_app.outbox.send_due()
        assert fields(await latest(client, card))["balance"][1] == 100  # the 30 are held
        clock.advance(days=13)
        assert await renew_old_cards(holding_app.core) == 0
        clock.advance(days=1, hours=1)
        assert await renew_old_cards(holding_app.core) == 1
        await holding_app.outbox.send_due()
        assert len(apns.pushes) == 2
        assert fields(await latest(client, card))["balance"][1] == 130
        assert await renew_old_cards(holding_app.core) == 0  # told once


@pytest.fixture
async def google_server(pki) -> AsyncIterator[FakeGoogleWallet]:  # type: ignore[no-untyped-def]
    server = await FakeGoogleWallet(pki.google_public).start()
    pki.point_google_at(server.token_uri)
    yield server
    await server.stop()


@pytest.fixture
async def both_wallets(settings: Settings, clock, pki, apns, google_server) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    application = await build(with_wallet(settings, apple=pki.apple(apns.url),
                                          google=pki.google(google_server.api_base)), clock)
    yield application
    await application.close()


async def test_a_busy_apple_does_not_hold_back_the_google_card(  # type: ignore[no-untyped-def]
        both_wallets, apns, google_server, clock) -> None:
    async with TestClient(TestServer(both_wallets.web)) as client:
        person = await member(both_wallets)
        card = pass_json(await download(client, person))
        await register(client, card)
        [picture] = [r for r in await person.send("/card") if isinstance(r, Picture)]
        [google_link] = [b.url for row in picture.buttons for b in row if b.url and "/google/" in b.url]
        saved = await client.get(google_link.removeprefix(PUBLIC_URL), allow_redirects=False)
        assert saved.status == 302
        apns.answers[PUSH_TOKEN] = (503, "ServiceUnavailable")
        till = Till(both_wallets, client, await new_key(both_wallets))
        await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="1000.00", receipt_id="R1")
        await both_wallets.outbox.send_due()
        [stored] = google_server.objects.values()
        assert stored["loyaltyPoints"]["balance"] == {"int": 130}
        assert await wallet_rows(both_wallets, "pending") == 1  # Apple's push is tried again
