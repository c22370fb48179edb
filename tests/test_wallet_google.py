"""Google Wallet end to end against a fake Google Wallet on 127.0.0.1 and a service account
key the test makes itself: the Card screen's link inserts the loyalty object once (the class
with it) and redirects to a «save» link whose JWT verifies with the account's public key; a
purchase patches the object with the new balance and tier; a busy Google is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app import Application, build
from bot.config import Settings
from bot.core.replies import Picture
from tests.chat import TELEGRAM_LIKE, ChatUser, text_of
from tests.fakes.google_wallet import FakeGoogleWallet
from tests.support.wallet_pki import ISSUER_ID, SERVICE_ACCOUNT, WalletPki, with_wallet
from tests.till import Till, new_key

SAVE_URL = "https://pay.google.com/gp/v/save/"


@pytest.fixture
async def google(tmp_path: Path) -> AsyncIterator[tuple[WalletPki, FakeGoogleWallet]]:
    pki = WalletPki.make(tmp_path / "pki")
    server = await FakeGoogleWallet(pki.google_public).start()
    pki.point_google_at(server.token_uri)
    yield pki, server
    await server.stop()


@pytest.fixture
async def google_app(settings: Settings, clock, google) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    pki, server = google
    application = await build(with_wallet(settings, google=pki.google(server.api_base)), clock)
    yield application
    await application.close()


@pytest.fixture
async def client(google_app: Application) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(google_app.web)) as test_client:
        yield test_client


async def member(app: Application, language: str = "en") -> ChatUser:
    person = ChatUser(app.core, TELEGRAM_LIKE, "42", language=language, flush=app.outbox.send_due)
    await person.sign_up()
    return person


async def google_link(person: ChatUser) -> str:
    [card] = [r for r in await person.send("/card") if isinstance(r, Picture)]
    [url] = [b.url for row in card.buttons for b in row if b.url]  # no Apple: one button
    assert "/wallet/google/" in url
    return url.removeprefix("https://shop.example")


async def save(client: TestClient, link: str) -> dict:
    response = await client.get(link, allow_redirects=False)
    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    assert location.startswith(SAVE_URL)
    return location.removeprefix(SAVE_URL)


async def test_the_save_link_makes_the_object_once_and_its_jwt_verifies(client, google_app, google) -> None:  # type: ignore[no-untyped-def]
    pki, server = google
    link = await google_link(await member(google_app))
    token = await save(client, link)
    claims = jwt.decode(token, pki.google_public, algorithms=["RS256"], audience="google")
    assert (claims["iss"], claims["typ"]) == (SERVICE_ACCOUNT, "savetowallet")
    assert claims["origins"] == ["https://shop.example"]
    [saved] = claims["payload"]["loyaltyObjects"]
    [stored] = server.objects.values()
    assert saved["id"] == stored["id"] and stored["id"].startswith(f"{ISSUER_ID}.")
    assert stored["classId"] == f"{ISSUER_ID}.loyalty"
    assert stored["accountName"] == "Ivan Petrov"
    assert stored["loyaltyPoints"] == {"label": "Points", "balance": {"int": 100}}
    assert stored["textModulesData"] == [{"id": "tier", "header": "Tier", "body": "Member"}]
    assert "start=pass-" in stored["barcode"]["value"]
    assert server.classes[f"{ISSUER_ID}.loyalty"]["programName"] == "Coffee Point"
    await save(client, link)  # the same link again, and a new one: no second insert
    await save(client, await google_link(ChatUser(google_app.core, TELEGRAM_LIKE, "42")))
    assert [(c.method, c.path) for c in server.calls] == [
        ("POST", "/walletobjects/v1/loyaltyClass"), ("POST", "/walletobjects/v1/loyaltyObject")]
    forged = jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        algorithm="RS256")
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(forged, pki.google_public, algorithms=["RS256"], audience="google")


async def test_the_object_is_written_in_the_customers_language(client, google_app, google) -> None:  # type: ignore[no-untyped-def]
    _, server = google
    await save(client, await google_link(await member(google_app, "ru")))
    [stored] = server.objects.values()
    assert stored["loyaltyPoints"]["label"] == "Баллы"
    assert stored["textModulesData"][0]["header"] == "Уровень"
    assert stored["textModulesData"][0]["body"] == "Участник"


async def test_a_purchase_patches_the_object(client, google_app, google, clock) -> None:  # type: ignore[no-untyped-def]
    _, server = google
    await save(client, await google_link(await member(google_app)))
    [stored] = server.objects.values()
    till = Till(google_app, client, await new_key(google_app))
    clock.advance(minutes=1)
    status, body = await till.buy(card=stored["accountId"], amount="1000.00", receipt_id="R1")
    assert status == 201, body
    await google_app.outbox.send_due()
    patches = [c for c in server.calls if c.method == "PATCH"]
    assert [c.path for c in patches] == [f"/walletobjects/v1/loyaltyObject/{stored['id']}"]
    assert stored["loyaltyPoints"]["balance"] == {"int": 130}
    assert stored["textModulesData"][0]["body"] == "Silver"
    status, body = await till.refund("R1")
    assert status == 200, body
    await google_app.outbox.send_due()
    assert len([c for c in server.calls if c.method == "PATCH"]) == 2
    assert stored["loyaltyPoints"]["balance"] == {"int": 100}
    assert stored["textModulesData"][0]["body"] == "Member"
    assert server.tokens_issued == 1  # one access token serves every call while it lives


async def test_a_busy_google_is_tried_again(client, google_app, google, clock) -> None:  # type: ignore[no-untyped-def]
    _, server = google
    await save(client, await google_link(await member(google_app)))
    [stored] = server.objects.values()
    till = Till(google_app, client, await new_key(google_app))
    server.failures = [503]
    await till.buy(card=stored["accountId"], amount="1000.00", receipt_id="R1")
    await google_app.outbox.send_due()
    assert stored["loyaltyPoints"]["balance"] == {"int": 100}  # not yet
    clock.advance(minutes=1)
    await google_app.outbox.send_due()
    assert stored["loyaltyPoints"]["balance"] == {"int": 130}


async def test_google_is_not_called_for_a_customer_who_never_opened_the_link(  # type: ignore[no-untyped-def]
        client, google_app, google) -> None:
    _, server = google
    person = await member(google_app)
    await google_link(person)  # the button is shown, never tapped
    till = Till(google_app, client, await new_key(google_app))
    async with google_app.core.unit_of_work() as uow:
        [customer] = await uow.customers.with_phone("+79001234567", 1)
    await till.buy(card=customer.card_number, amount="1000.00", receipt_id="R1")
    await google_app.outbox.send_due()
    assert server.calls == []


@pytest.mark.parametrize("answer", ['{"error": "temporarily_unavailable"}', "<html>busy</html>", "[]",
                                    '{"access_token": "t", "expires_in": "soon"}'])
async def test_a_broken_token_answer_gets_the_polite_page(client, google_app, google, answer) -> None:  # type: ignore[no-untyped-def]
    _, server = google
    server.token_answer = answer
    response = await client.get(await google_link(await member(google_app)), allow_redirects=False)
    assert response.status == 503
    assert "Google Wallet can't be reached right now" in await response.text()


async def test_a_customer_who_deletes_their_data_leaves_nothing_of_it_at_google(  # type: ignore[no-untyped-def]
        client, google_app, google) -> None:
    """The card row goes with the customer; the object at Google (which the API does not
    delete) is emptied of the name, the card number, the points and the tier, and expired."""
    _, server = google
    person = await member(google_app)
    await save(client, await google_link(person))
    await person.press("settings:delete")
    assert "Your data is deleted" in text_of(await person.press("settings:delete:confirm"))
    await google_app.outbox.send_due()
    [stored] = server.objects.values()
    assert stored["state"] == "EXPIRED"
    assert (stored["accountName"], stored["accountId"]) == ("", "")
    assert stored["loyaltyPoints"]["balance"] == {"int": 0}
    assert stored["textModulesData"] == []
    assert stored["barcode"]["alternateText"] == ""  # the card number was there
    assert "Ivan" not in str(stored)


async def test_after_a_restart_with_a_new_name_and_colour_the_class_is_brought_up_to_date(  # type: ignore[no-untyped-def]
        client, google_app, google, settings, clock) -> None:
    pki, server = google
    await save(client, await google_link(await member(google_app)))
    [stored] = server.objects.values()
    class_id = f"{ISSUER_ID}.loyalty"
    renamed = with_wallet(settings, google=pki.google(server.api_base)).model_copy(deep=True)
    renamed.shop.name, renamed.wallet.background_color = "Coffee Point Plus", "#112233"
    restarted = await build(renamed, clock)
    try:
        async with TestClient(TestServer(restarted.web)) as restarted_client:
            till = Till(restarted, restarted_client, await new_key(restarted))
            status, body = await till.buy(card=stored["accountId"], amount="1000.00", receipt_id="R1")
            assert status == 201, body
            await restarted.outbox.send_due()
    finally:
        await restarted.close()
    assert server.classes[class_id]["programName"] == "Coffee Point Plus"
    assert server.classes[class_id]["issuerName"] == "Coffee Point Plus"
    assert server.classes[class_id]["hexBackgroundColor"] == "#112233"
    assert stored["hexBackgroundColor"] == "#112233"
    assert stored["loyaltyPoints"]["balance"] == {"int": 130}
