"""The Card screen offers the card for the phone's wallet only when the shop configured a
wallet, and a wallet card's barcode is accepted at the checkout (the cashier's scan and the
POS API) like the chat's QR code, while a forged or expired one is refused politely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Application, build
from bot.config import Settings
from bot.core.replies import Button, Picture, Reply
from bot.wallet.setup import WalletConfigError
from tests.chat import TELEGRAM_LIKE, ChatUser, text_of
from tests.support.wallet_pki import WalletPki, with_wallet
from tests.test_cashier_chat import customer, hire
from tests.till import Till, new_key


def link_buttons(replies: list[Reply]) -> list[Button]:
    return [button for reply in replies if isinstance(reply, Picture)
            for row in reply.buttons for button in row if button.url]


@pytest.fixture
def pki(tmp_path: Path) -> WalletPki:
    return WalletPki.make(tmp_path / "pki")


@pytest.fixture
async def wallet_app(settings: Settings, clock, pki: WalletPki) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    application = await build(with_wallet(settings, apple=pki.apple(), google=pki.google()), clock)
    yield application
    await application.close()


def person(app: Application, external_id: str, **kw) -> ChatUser:  # type: ignore[no-untyped-def]
    return ChatUser(app.core, TELEGRAM_LIKE, external_id, flush=app.outbox.send_due, **kw)


async def test_no_wallet_buttons_without_a_configured_wallet(chat) -> None:  # type: ignore[no-untyped-def]
    for external_id, language in (("42", "ru"), ("43", "en")):
        anna = chat(external_id, language=language)
        await anna.sign_up(phone=f"+7900123456{external_id[-1]}")
        replies = await anna.send("/card")
        assert "Card №" in text_of(replies) or "Карта №" in text_of(replies)
        assert link_buttons(replies) == []
        assert "Wallet" not in str([b.label for r in replies if isinstance(r, Picture)
                                    for row in r.buttons for b in row])


async def test_the_card_screen_links_to_both_wallets_in_the_customers_language(
        wallet_app: Application) -> None:
    ru = person(wallet_app, "42", language="ru")
    await ru.sign_up(phone="+79001234561")
    labels = [b.label for b in link_buttons(await ru.send("/card"))]
    assert labels == ["📲 Добавить в Apple Wallet", "📲 Добавить в Google Кошелёк"]
    en = person(wallet_app, "43", language="en")
    await en.sign_up(phone="+79001234562")
    buttons = link_buttons(await en.send("/card"))
    assert [b.label for b in buttons] == ["📲 Add to Apple Wallet", "📲 Add to Google Wallet"]
    assert buttons[0].url.startswith("https://shop.example/wallet/apple/")
    assert buttons[1].url.startswith("https://shop.example/wallet/google/")


async def wallet_barcode(app: Application, customer_id: int) -> str:
    services = app.core.services
    return "pass-" + services.scanner.wallet.issue(customer_id, services.clock.now())


async def test_a_cashier_scans_a_wallet_barcode_like_the_chats_qr(wallet_app, clock) -> None:  # type: ignore[no-untyped-def]
    ivan = person(wallet_app, "42", language="en")
    await ivan.sign_up()
    kate = await hire(wallet_app, lambda *a, **kw: person(wallet_app, *a, language="en", **kw), clock)
    barcode = await wallet_barcode(wallet_app, (await customer(wallet_app)).id)
    clock.advance(days=40)  # a wallet card is shown weeks after it was last updated
    assert "Type the purchase amount" in text_of(await kate.send(f"/start {barcode}"))
    forged = barcode[:-3] + ("AAA" if not barcode.endswith("AAA") else "BBB")
    assert "not valid any more" in text_of(await kate.send(f"/start {forged}"))
    clock.advance(days=60)  # past wallet.barcode_days (90)
    refusal = text_of(await kate.send(f"/start {barcode}"))
    assert "The code of this wallet card is not valid any more" in refusal
    assert "type the card number" in refusal


async def test_the_refusal_is_in_russian_for_a_russian_cashier(wallet_app, clock) -> None:  # type: ignore[no-untyped-def]
    ivan = person(wallet_app, "42")
    await ivan.sign_up()
    kate = await hire(wallet_app, lambda *a, **kw: person(wallet_app, *a, language="ru", **kw), clock)
    barcode = await wallet_barcode(wallet_app, (await customer(wallet_app)).id)
    assert "Введите сумму покупки" in text_of(await kate.send(f"/start {barcode}"))
    clock.advance(days=91)
    assert "Код этой карты из кошелька больше не действует" in text_of(
        await kate.send(f"/start {barcode}"))


async def test_the_pos_api_takes_a_wallet_barcode(wallet_app, clock) -> None:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(wallet_app.web)) as client:
        till = Till(wallet_app, client, await new_key(wallet_app))
        status, card = await till.enrol(phone="+79001234567", name="Anna")
        assert status == 201
        async with wallet_app.core.unit_of_work() as uow:
            found = await uow.customers.by_card_number(card["card_number"])
        barcode = await wallet_barcode(wallet_app, found.id)
        status, body = await till.card(barcode)
        assert (status, body["card_number"]) == (200, card["card_number"])
        status, body = await till.buy(card=barcode, amount="1000.00", receipt_id="R-1")
        assert status == 201, body
        clock.advance(days=91)
        status, body = await till.card(barcode)
        assert (status, body["error"]) == (422, "invalid_card_token")
        assert "wallet card" in body["message"]


async def test_a_wallet_config_naming_a_missing_file_says_which(settings: Settings, clock, pki) -> None:  # type: ignore[no-untyped-def]
    apple = {**pki.apple(), "certificate": str(pki.folder / "missing.pem")}
    with pytest.raises(WalletConfigError, match=r"wallet\.apple's certificate"):
        await build(with_wallet(settings, apple=apple), clock)
