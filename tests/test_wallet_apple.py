"""Apple Wallet end to end against a fake Apple push service on 127.0.0.1 and certificates
the test makes itself: the .pkpass from the Card screen's link is a zip whose manifest has
every file's SHA-1 and whose signature verifies; the pass web service follows Apple's
protocol (each pass's own token, 401 otherwise); a purchase pushes to the registered device
and the next pass it fetches has the new balance (with If-Modified-Since honoured)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from bot.app import Application, build
from bot.config import Settings
from bot.core.replies import Picture
from tests.chat import TELEGRAM_LIKE, ChatUser
from tests.fakes.apns import FakeApns
from tests.support.wallet_pki import PASS_TYPE_ID, TEAM_ID, WalletPki, with_wallet
from tests.till import Till, new_key

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PUSH_TOKEN = "0f" * 32


@pytest.fixture
def pki(tmp_path: Path) -> WalletPki:
    return WalletPki.make(tmp_path / "pki")


@pytest.fixture
async def apns(pki: WalletPki) -> AsyncIterator[FakeApns]:
    server = await FakeApns(pki).start()
    yield server
    await server.stop()


@pytest.fixture
async def apple_app(settings: Settings, clock, pki: WalletPki, apns: FakeApns  # type: ignore[no-untyped-def]
                    ) -> AsyncIterator[Application]:
    application = await build(with_wallet(settings, apple=pki.apple(apns.url)), clock)
    yield application
    await application.close()


@pytest.fixture
async def client(apple_app: Application) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(apple_app.web)) as test_client:
        yield test_client


async def member(app: Application, language: str = "en", external_id: str = "42") -> ChatUser:
    person = ChatUser(app.core, TELEGRAM_LIKE, external_id, language=language,
                      flush=app.outbox.send_due)
    await person.sign_up(phone=f"+7900123456{external_id[-1]}")
    return person


async def apple_link(person: ChatUser) -> str:
    [card] = [r for r in await person.send("/card") if isinstance(r, Picture)]
    [url] = [b.url for row in card.buttons for b in row if b.url and "/wallet/apple/" in b.url]
    return url.removeprefix("https://shop.example")


def unzip(pkpass: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def download(client: TestClient, person: ChatUser) -> dict[str, bytes]:
    response = await client.get(await apple_link(person))
    assert response.status == 200
    assert response.content_type == "application/vnd.apple.pkpass"
    return unzip(await response.read())


def pass_json(files: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(files["pass.json"])


def fields(card: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {f["key"]: (f["label"], f["value"]) for group in card["storeCard"].values() for f in group}


def auth(card: dict[str, Any], token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"ApplePass {token or card['authenticationToken']}"}


async def test_the_pkpass_is_a_signed_zip_with_the_card_on_it(client, apple_app, pki) -> None:  # type: ignore[no-untyped-def]
    anna = await member(apple_app)
    files = await download(client, anna)
    assert {"pass.json", "manifest.json", "signature", "icon.png", "icon@2x.png"} <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest, name
    card = pass_json(files)
    assert (card["passTypeIdentifier"], card["teamIdentifier"]) == (PASS_TYPE_ID, TEAM_ID)
    assert card["organizationName"] == "Coffee Point"
    assert card["backgroundColor"] == "rgb(31, 41, 55)"
    assert card["webServiceURL"] == "https://shop.example/wallet/apple"
    assert len(card["authenticationToken"]) >= 16
    shown = fields(card)
    assert shown["name"] == ("Name", "Ivan Petrov")
    assert shown["balance"] == ("Points", 100)  # the welcome bonus
    assert shown["tier"] == ("Tier", "Member")
    [barcode] = card["barcodes"]
    assert barcode["format"] == "PKBarcodeFormatQR"
    # asked for in "telegram", which this app does not run: the barcode opens the web chat
    assert barcode["message"].startswith("https://shop.example/?start=pass-")
    assert barcode["altText"] == shown["card"][1]
    # the signature: the shop's certificate and the WWDR one, over manifest.json
    chain = pkcs7.load_der_pkcs7_certificates(files["signature"])
    subjects = {c.subject.get_attributes_for_oid(x509.NameOID.USER_ID)[0].value
                for c in chain if c.subject.get_attributes_for_oid(x509.NameOID.USER_ID)}
    assert subjects == {PASS_TYPE_ID} and len(chain) == 2
    assert verifies(pki, files["signature"], files["manifest.json"])
    assert not verifies(pki, files["signature"], files["manifest.json"].replace(b"}", b" }"))


def verifies(pki: WalletPki, signature: bytes, content: bytes) -> bool:
    """``openssl cms -verify`` of the detached signature against the test's WWDR authority."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command verifies the PKCS#7 signature"
    folder = pki.folder
    (folder / "signature.der").write_bytes(signature)
    (folder / "content.bin").write_bytes(content)
    result = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(folder / "signature.der"),
         "-content", str(folder / "content.bin"), "-CAfile", str(pki.ca), "-purpose", "any",
         "-out", "/dev/null"], capture_output=True, check=False)
    return result.returncode == 0


async def test_the_pass_speaks_the_customers_language(client, apple_app) -> None:  # type: ignore[no-untyped-def]
    card = pass_json(await download(client, await member(apple_app, "ru")))
    shown = fields(card)
    assert shown["balance"] == ("Баллы", 100)
    assert shown["tier"][0] == "Уровень"
    assert card["description"] == "Карта лояльности Coffee Point"


async def test_an_old_or_forged_link_gets_a_polite_page(client, apple_app, clock) -> None:  # type: ignore[no-untyped-def]
    link = await apple_link(await member(apple_app))
    forged = await client.get(link[:-4] + "AAAA")
    assert forged.status == 410
    assert "Откройте карту в чате с ботом" in await forged.text()  # the shop's default language
    clock.advance(hours=25)
    assert (await client.get(link)).status == 410


async def test_the_web_service_follows_apples_protocol(client, apple_app) -> None:  # type: ignore[no-untyped-def]
    card = pass_json(await download(client, await member(apple_app)))
    other = pass_json(await download(client, await member(apple_app, external_id="43")))
    serial = card["serialNumber"]
    registration = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{serial}"
    body = {"pushToken": PUSH_TOKEN}
    for headers in ({}, auth(card, "x" * 40), auth(other), {"Authorization": card["authenticationToken"]}):
        assert (await client.post(registration, json=body, headers=headers)).status == 401
    elsewhere = registration.replace(PASS_TYPE_ID, "pass.someone.else")
    assert (await client.post(elsewhere, json=body, headers=auth(card))).status == 401
    assert (await client.post(registration, json=body, headers=auth(card))).status == 201
    assert (await client.post(registration, json=body, headers=auth(card))).status == 200
    listing = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}"
    response = await client.get(listing)
    assert response.status == 200
    updated = await response.json()
    assert updated["serialNumbers"] == [serial]
    nothing_new = await client.get(listing, params={"passesUpdatedSince": updated["lastUpdated"]})
    assert nothing_new.status == 204
    assert (await client.get(f"/wallet/apple/v1/devices/other-device/registrations/{PASS_TYPE_ID}")
            ).status == 204
    latest = f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{serial}"
    assert (await client.get(latest)).status == 401
    assert (await client.get(latest, headers=auth(other))).status == 401
    response = await client.get(latest, headers=auth(card))
    assert response.status == 200 and "Last-Modified" in response.headers
    assert pass_json(unzip(await response.read()))["serialNumber"] == serial
    unchanged = await client.get(latest, headers={
        **auth(card), "If-Modified-Since": response.headers["Last-Modified"]})
    assert unchanged.status == 304
    assert (await client.post("/wallet/apple/v1/log", json={"logs": ["a pass failed"]})).status == 200
    assert (await client.delete(registration, headers=auth(other))).status == 401
    assert (await client.delete(registration, headers=auth(card))).status == 200
    assert (await client.get(listing)).status == 204


async def register(client: TestClient, card: dict[str, Any]) -> None:
    path = (f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/"
            f"{card['serialNumber']}")
    assert (await client.post(path, json={"pushToken": PUSH_TOKEN}, headers=auth(card))).status == 201


async def test_a_purchase_pushes_and_the_next_pass_has_the_new_balance(  # type: ignore[no-untyped-def]
        client, apple_app, apns, clock) -> None:
    anna = await member(apple_app)
    card = pass_json(await download(client, anna))
    await register(client, card)
    listing = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}"
    tag = (await (await client.get(listing)).json())["lastUpdated"]
    latest = f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{card['serialNumber']}"
    before = await client.get(latest, headers=auth(card))
    clock.advance(minutes=5)
    till = Till(apple_app, client, await new_key(apple_app))
    number = fields(card)["card"][1].replace(" ", "")
    status, body = await till.buy(card=number, amount="1000.00", receipt_id="R1")
    assert status == 201, body
    await apple_app.outbox.send_due()
    [push] = apns.pushes
    assert push.token == PUSH_TOKEN and push.path == f"/3/device/{PUSH_TOKEN}"
    assert push.headers["apns-topic"] == PASS_TYPE_ID and json.loads(push.body) == {}
    assert push.client_subject["commonName"] == f"Pass Type ID: {PASS_TYPE_ID}"
    changed = await client.get(listing, params={"passesUpdatedSince": tag})
    assert (await changed.json())["serialNumbers"] == [card["serialNumber"]]
    response = await client.get(latest, headers={
        **auth(card), "If-Modified-Since": before.headers["Last-Modified"]})
    assert response.status == 200
    now = pass_json(unzip(await response.read()))
    assert fields(now)["balance"] == ("Points", 100 + 30)  # Silver's 3 % of 1,000
    assert fields(now)["tier"] == ("Tier", "Silver")
    assert now["authenticationToken"] == card["authenticationToken"]
    assert (await client.get(latest, headers={
        **auth(card), "If-Modified-Since": response.headers["Last-Modified"]})).status == 304
    assert format_datetime(clock.now().replace(microsecond=0), usegmt=True) == \
        response.headers["Last-Modified"]


async def test_a_device_apple_calls_gone_is_forgotten(client, apple_app, apns, clock) -> None:  # type: ignore[no-untyped-def]
    anna = await member(apple_app)
    card = pass_json(await download(client, anna))
    await register(client, card)
    apns.answers[PUSH_TOKEN] = (410, "Unregistered")
    till = Till(apple_app, client, await new_key(apple_app))
    await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="500.00", receipt_id="R1")
    await apple_app.outbox.send_due()
    await till.buy(card=fields(card)["card"][1].replace(" ", ""), amount="500.00", receipt_id="R2")
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1  # the second purchase had no device left to push to


async def test_the_card_follows_the_language_it_was_last_added_in(client, apple_app, apns) -> None:  # type: ignore[no-untyped-def]
    anna = await member(apple_app)
    card = pass_json(await download(client, anna))
    await register(client, card)
    # her messenger now speaks Russian, and she opens the card and adds it again
    russian = ChatUser(apple_app.core, TELEGRAM_LIKE, "42", language="ru",
                       flush=apple_app.outbox.send_due)
    again = pass_json(await download(client, russian))
    assert again["serialNumber"] == card["serialNumber"]
    assert fields(again)["balance"][0] == "Баллы"
    await apple_app.outbox.send_due()
    assert len(apns.pushes) == 1  # her iPhone fetches the Russian card
