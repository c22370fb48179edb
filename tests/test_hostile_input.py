"""Hostile input gets a plain 4xx, never a 500: bytes no client library would send
(non-ASCII in secrets, cookies and signatures), absurd dates, JSON nested a thousand deep.
Requests go to the real app on 127.0.0.1 as raw bytes, so nothing in between cleans them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.app import Application, build
from bot.storage.models import Identity, Purchase
from tests.chat import owner_settings
from tests.test_pos_api import new_key

DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture
async def shop(db_url, clock) -> AsyncIterator[tuple[Application, str]]:  # type: ignore[no-untyped-def]
    """The app with every messenger's webhook installed (none is called: each request is
    refused before it would be), on 127.0.0.1."""
    settings = owner_settings(
        db_url, web={"public_url": "https://shop.example"}, metrics={"token": "metrics-token"},
        telegram={"token": "123:ABC", "mode": "webhook", "webhook_secret": "s3cret",
                  "api_base": "http://127.0.0.1:9"},
        viber={"token": "viber-token", "api_base": "http://127.0.0.1:9"},
        whatsapp={"phone_id": "1", "token": "t", "app_secret": "app-secret",
                  "verify_token": "v", "api_base": "http://127.0.0.1:9"})
    application = await build(settings, clock)
    runner = web.AppRunner(application.web)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield application, f"{host}:{port}"
    finally:
        await runner.cleanup()
        await application.close()


async def raw(address: str, method: str, path: str, headers: dict[str, bytes] | None = None,
              body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte; (status, headers, body)."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {address}".encode(),
             b"Connection: close", f"Content-Length: {len(body)}".encode()]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    return int(status_line.split()[1]), found, content


async def test_non_ascii_secrets_are_refused_not_errors(shop):
    app, address = shop
    cookie = {"Cookie": "loyalty_web=abc.é".encode()}
    status, headers, _ = await raw(address, "GET", "/", cookie)
    assert status == 200 and "loyalty_web=" in headers.get("Set-Cookie", "")  # a new one
    assert (await raw(address, "GET", "/web/ws", cookie | {
        "Upgrade": b"websocket", "Connection": b"Upgrade", "Sec-WebSocket-Version": b"13",
        "Sec-WebSocket-Key": b"dGhlIHNhbXBsZSBub25jZQ=="}))[0] == 401
    assert (await raw(address, "GET", "/web/download/x", cookie))[0] == 404
    valid = {"Cookie": headers["Set-Cookie"].split(";")[0].encode()}
    for name in ("Upgrade", "Connection", "Sec-WebSocket-Version"):  # Upgrade was a 500
        assert (await raw(address, "GET", "/web/ws", valid | {name: b"\xff"}))[0] == 400, name
    handshake = valid | {"Upgrade": b"websocket", "Connection": b"Upgrade",
                         "Sec-WebSocket-Version": b"13"}
    for key in (b"dGhl\xffSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ==é".encode()):  # base64 of str: a 500
        assert (await raw(address, "GET", "/web/ws", handshake | {"Sec-WebSocket-Key": key}))[0] == 400
    assert (await raw(address, "GET", "/viber/media/" + "ab" * 32 + ".png?e=9999999999&s=%D1%8F"))[0] == 404
    assert (await raw(address, "POST", "/viber/webhook", {"X-Viber-Content-Signature": b"\xe9"},
                      b"{}"))[0] == 403
    assert (await raw(address, "POST", "/whatsapp/webhook",
                      {"X-Hub-Signature-256": "sha256=я".encode()}, b"{}"))[0] == 403
    assert (await raw(address, "POST", "/telegram/webhook",
                      {"X-Telegram-Bot-Api-Secret-Token": "тест".encode(),
                       "Content-Type": b"application/json"}, b"{}"))[0] == 401
    for key in (b"\xff", b"\xed\xa0\x80", "ключ".encode()):  # these two were 500s
        for path in ("/api/v1/cards/1", "/api/v1/reports/triggers", "/metrics"):
            assert (await raw(address, "GET", path, {"Authorization": b"Bearer " + key}))[0] == 401
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Identity))).scalar_one() == 0


async def test_a_date_far_outside_the_calendar_is_a_422(shop):
    app, address = shop
    key = await new_key(app)
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T00:00:00+00:00"):
        body = json.dumps({"card": "0000000000000", "amount": "10.00", "receipt_id": "x",
                           "occurred_at": moment}).encode()
        status, _, content = await raw(address, "POST", "/api/v1/purchases", {
            "Authorization": f"Bearer {key}".encode(), "Content-Type": b"application/json"}, body)
        assert (status, json.loads(content)["error"]) == (422, "invalid_date"), moment
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Purchase))).scalar_one() == 0


@pytest.mark.parametrize("body", [DEEP, b"1" * 5000, b'{"spend_points": ' + b"9" * 5000 + b"}"],
                         ids=["nested a thousand deep", "a number of 5000 digits", "one inside"])
async def test_json_python_cannot_read_is_a_400(shop, body):
    """Nested too deep, or a number longer than Python turns into an int (4300 digits)."""
    app, address = shop
    key = await new_key(app)
    for path in ("/api/v1/purchases", "/api/v1/customers", "/api/v1/purchases/R1/refund"):
        status, _, content = await raw(address, "POST", path, {
            "Authorization": f"Bearer {key}".encode(), "Content-Type": b"application/json"}, body)
        assert (status, json.loads(content)["error"]) == (400, "malformed_json"), path


async def test_malformed_bodies_behind_a_valid_signature_store_nothing(shop):
    """Whoever holds the secret may still send garbage: a 4xx (or WhatsApp's expected 200),
    no identity, no event, and the next real request is served."""
    import hashlib
    import hmac

    app, address = shop

    def whatsapp(body: bytes) -> dict[str, bytes]:
        digest = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}".encode(),
                "Content-Type": b"application/json"}

    without_contacts = (b'{"entry":[{"changes":[{"field":"messages",'
                   b'"value":{"metadata":{"phone_number_id":"1"},"messages":[{"type":"text",'
                   b'"text":{"body":"hi"}}]}}]}]}')
    for body in (b"[1]", b'"x"', b'{"entry":[5]}', without_contacts, b'{"entry":[{"changes":"x"}]}'):
        status, _, _ = await raw(address, "POST", "/whatsapp/webhook", whatsapp(body), body)
        assert status == 200, body  # Meta would resend anything else for days
    assert (await raw(address, "POST", "/whatsapp/webhook", whatsapp(DEEP), DEEP))[0] == 400
    secret = {"X-Telegram-Bot-Api-Secret-Token": b"s3cret", "Content-Type": b"application/json"}
    for body in (b"", b"not json", b"[]", b'{"update_id": "x"}', DEEP):
        assert (await raw(address, "POST", "/telegram/webhook", secret, body))[0] == 400, body
    await asyncio.sleep(0.2)  # anything started in the background would have run by now
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Identity))).scalar_one() == 0
    assert (await raw(address, "GET", "/"))[0] == 200


async def test_the_web_chat_socket_survives_json_a_thousand_deep(app):
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app.web)) as browser:
        await browser.get("/")
        ws = await browser.ws_connect("/web/ws")
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "history"
        await ws.send_bytes(DEEP)  # as a text frame below
        await ws.send_str(DEEP.decode())
        await ws.send_json({"type": "text", "text": "/start"})
        reply = json.loads((await ws.receive(timeout=5)).data)
        while reply.get("type") in ("seen", "mine", "ui"):
            reply = json.loads((await ws.receive(timeout=5)).data)
        assert "Здравствуйте" in reply["text"] and not ws.closed


async def test_control_characters_are_refused_or_cleaned_at_input(any_db_url, clock):
    """A NUL is what PostgreSQL refuses: the API refuses such a name and such a receipt id
    with a clear code, and a name typed in a chat is stored without it."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.storage.models import Customer
    from tests.chat import TELEGRAM_LIKE, ChatUser
    from tests.till import Till

    app = await build(owner_settings(any_db_url), clock)
    try:
        async with TestClient(TestServer(app.web)) as client:
            till = Till(app, client, await new_key(app))
            status, body = await till.call("POST", "/api/v1/customers",
                                           {"phone": "+79001112233", "name": "A\u0000B"})
            assert (status, body["error"]) == (422, "invalid_name")
            status, body = await till.call("POST", "/api/v1/purchases/x%00y/refund", {})
            assert (status, body["error"]) == (422, "invalid_receipt_id")
        anna = ChatUser(app.core, TELEGRAM_LIKE, "7", name=None)
        await anna.send("/start")
        await anna.press("consent:yes")
        await anna.share_contact("+79005556677")
        assert "Когда у вас день рождения" in "".join(
            r.text for r in await anna.send("An\u0000na\u0007") if hasattr(r, "text"))
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(Customer.name))).scalar_one() == "Anna"
    finally:
        await app.close()


async def test_without_a_key_the_report_says_401_before_anything_else_and_a_405_names_allow(shop):
    _app, address = shop
    status, _, content = await raw(address, "GET", "/api/v1/reports/triggers?from=nonsense")
    assert (status, json.loads(content)["error"]) == (401, "unauthorized")
    status, headers, content = await raw(address, "DELETE", "/api/v1/purchases")
    assert status == 405 and headers.get("Allow") == "POST"
    assert json.loads(content)["allowed"] == ["POST"]


def test_the_description_takes_the_amounts_the_server_takes():
    from jsonschema import Draft202012Validator

    from bot.api.openapi import document
    from bot.loyalty.money import InvalidAmount, parse_api_amount

    components = document()["components"]
    amount = Draft202012Validator({"$ref": "#/components/schemas/Amount", "components": components})
    for text in ("0", "0.00", "00.0", "10000000.01", "123456789012", "1.234", "1,00", "-1", ""):
        assert not amount.is_valid(text), text
        with pytest.raises(InvalidAmount):
            parse_api_amount(text)
    for text in ("0.01", "1", "1500.5", "1500.00", "10000000", "10000000.00", "0009.90"):
        assert amount.is_valid(text), text
        assert parse_api_amount(text) > 0
    refund = Draft202012Validator({"$ref": "#/components/schemas/RefundRequest",
                                   "components": components})
    assert not refund.is_valid({"amount": "10.00"})  # a partial refund names itself
    assert refund.is_valid({"amount": "10.00", "refund_id": "r1"}) and refund.is_valid({})


async def test_a_whole_number_written_as_2_0_is_an_integer(app):
    from aiohttp.test_utils import TestClient, TestServer

    from tests.till import Till

    async with TestClient(TestServer(app.web)) as client:
        till = Till(app, client, await new_key(app))
        status, body = await till.call("POST", "/api/v1/customers", {"phone": "+79001112233"})
        assert status == 201
        status, body = await till.buy(card=body["card_number"], amount="100.00",
                                      receipt_id="r1", spend_points=0.0)
        assert status == 201, body


async def test_a_lone_surrogate_from_a_till_is_refused_on_every_database(any_db_url, clock):
    """A JSON "\\ud800" escape is text no UTF-8 database can hold: a name with one is
    refused like one with a NUL, and nothing of the request is stored."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.storage.models import Customer
    from tests.till import Till

    app = await build(owner_settings(any_db_url), clock)
    try:
        async with TestClient(TestServer(app.web)) as client:
            till = Till(app, client, await new_key(app))
            for body in ({"phone": "+79001112233", "name": "Ann\ud800a"},
                         {"phone": "+79001112233", "birthday": "01.02.\ud800"}):
                status, answer = await till.call("POST", "/api/v1/customers", body)
                assert status == 422 and answer["error"].startswith("invalid_"), (body, answer)
            status, answer = await till.buy(card="\ud800", amount="10.00", receipt_id="r1")
            assert (status, answer["error"]) == (422, "invalid_card_token")
            status, answer = await till.buy(phone="+79001112233", amount="10.00", receipt_id="r\udfff")
            assert (status, answer["error"]) == (422, "invalid_receipt_id")
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(func.count()).select_from(Customer))).scalar_one() == 0
    finally:
        await app.close()


async def test_the_web_chat_takes_bytes_no_browser_sends_calmly(any_db_url, clock, caplog):
    """A language header with a byte that is no UTF-8 (the server reads it as a lone
    surrogate) and a /start payload with a NUL and a surrogate: the visitor is greeted in
    the language the rest of the header names, and nothing is logged as an error."""
    import aiohttp

    caplog.set_level("INFO")
    app = await build(owner_settings(any_db_url), clock)
    runner = web.AppRunner(app.web)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        _, headers, _ = await raw(f"{host}:{port}", "GET", "/", {"Accept-Language": b"e\xffn"})
        cookie = headers["Set-Cookie"].split(";")[0]
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"http://{host}:{port}/web/ws",
                headers={"Cookie": cookie, "Accept-Language": "e\udcffn"}) as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "history"
            await ws.send_str('{"type": "text", "text": "/start ref\\u0000\\ud800"}')
            reply = json.loads((await ws.receive(timeout=5)).data)
            while reply.get("type") in ("seen", "mine", "ui"):
                reply = json.loads((await ws.receive(timeout=5)).data)
        assert "Hello! This is the loyalty program" in reply["text"]
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    finally:
        await runner.cleanup()
        await app.close()


@pytest.mark.parametrize("number", [str(2 ** 63), "9" * 30])
async def test_a_button_naming_a_row_past_the_databases_integers_is_answered(any_db_url, clock, caplog,
                                                                            number):
    """A button's payload is input too: a web chat page sends any, a Viber user can type
    "btn:…". An id past 2**63 failed the query (an apology and a traceback); it names
    nothing, as an unknown id does."""
    from tests.chat import OWNER, TELEGRAM_LIKE, ChatUser, text_of

    caplog.set_level("INFO")
    app = await build(owner_settings(any_db_url), clock)
    try:
        owner = ChatUser(app.core, TELEGRAM_LIKE, OWNER, flush=app.outbox.send_due)
        anna = ChatUser(app.core, TELEGRAM_LIKE, "7", flush=app.outbox.send_due)
        await anna.sign_up()
        answers = {payload: text_of(await owner.press(f"{payload}:{number}"))
                   for payload in ("cu.show", "cu.ok", "bc.report", "bc.go", "blk.card", "merge.yes",
                                   "fb.re", "ol.key", "staff.rm")}
        assert answers["cu.show"] == text_of(await owner.press("cu.show:4242"))
        assert "У нас что-то пошло не так" not in "".join(answers.values()), answers
        assert all(answers.values()), answers
        assert "больше не придут" in text_of(await anna.press(f"unsub:{number}"))
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    finally:
        await app.close()



async def test_a_number_of_thousands_of_digits_from_the_staff_is_refused_calmly(app, chat, clock, caplog):
    """Python reads at most 4300 digits as a number (a ValueError past that), and a web chat
    or Viber message holds more: the till's amount, the points to pay, /stats, /triggers
    and a program rule answered with an apology and a traceback. Each is now refused as
    any number out of its range is."""
    from tests.chat import text_of
    from tests.test_cashier_chat import at_the_till, button, hire

    caplog.set_level("INFO")
    huge = "9" * 5000
    _ivan, kate = await at_the_till(app, chat, clock)
    assert "Это слишком много для одной покупки" in text_of(await kate.send(huge))
    await kate.press(button(await kate.press(button(await kate.send("500"), "co.spend:")), "co.other:"))
    assert "Введите целое число от 1 до" in text_of(await kate.send(huge))
    owner = await hire(app, chat, clock, "1", role="admin")
    answers = [text_of(await owner.send(f"/stats {huge}")), text_of(await owner.send(f"/triggers {huge}"))]
    await owner.press("pr.e:welcome_bonus")
    answers.append(text_of(await owner.send(huge)))
    assert answers[0].startswith("Отправьте /stats — за последние 30 дней"), answers
    assert answers[1].startswith("Отправьте /triggers или /triggers <дней>, от 1 до 366."), answers
    assert answers[2].startswith("Пожалуйста, отправьте целое число от 0 до 1000000."), answers
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
