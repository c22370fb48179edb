"""Hostile requests to the wallet's routes get a clear 4xx, never a 500: Apple's pass web
service (garbage paths, malformed, deeply nested or huge JSON, wrong types, missing or
forged auth, unknown serials, absurd If-Modified-Since and passesUpdatedSince values) and
the Card screen's download links (garbage, tampered, another customer's, expired)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support.wallet_pki import PASS_TYPE_ID
from tests.test_wallet_apple import (  # noqa: F401 - apns, apple_app, client, pki are fixtures
    DEVICE,
    PUSH_TOKEN,
    apns,
    apple_app,
    apple_link,
    auth,
    client,
    download,
    member,
    pass_json,
    pki,
)
from tests.test_wallet_updates import app_on_each_database  # noqa: F401 - a fixture

DEVICES = f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}"
NESTED = "[" * 200_000  # json.loads gives up with a RecursionError
JSON = {"Content-Type": "application/json"}


async def a_card(client: TestClient, app) -> dict:  # type: ignore[no-untyped-def]
    return pass_json(await download(client, await member(app)))


@pytest.mark.parametrize("body", [NESTED.encode(), b"not json", b"[]", b'"text"', b"42", b"null",
                                  b'{"pushToken": 42}', b'{"pushToken": ""}', b'{"pushToken": ["a"]}',
                                  b'{"pushToken": "' + b"f" * 300 + b'"}', b"\xff\xfe",
                                  b'{"pushToken": "../../3/device/x?y#"}', b'{"pushToken": "0f\\n"}'])
async def test_a_registration_with_a_bad_body_is_a_400(client, apple_app, body: bytes) -> None:  # type: ignore[no-untyped-def]
    card = await a_card(client, apple_app)
    response = await client.post(f"{DEVICES}/{card['serialNumber']}", data=body,
                                 headers={**auth(card), **JSON})
    assert response.status == 400


async def test_a_registration_too_big_is_refused(client, apple_app) -> None:  # type: ignore[no-untyped-def]
    card = await a_card(client, apple_app)
    huge = b'{"pushToken": "' + b"f" * 3_000_000 + b'"}'
    response = await client.post(f"{DEVICES}/{card['serialNumber']}", data=huge,
                                 headers={**auth(card), **JSON})
    assert response.status == 413


@pytest.mark.parametrize("header", ["", "ApplePass", "ApplePass ", "Bearer x", "ApplePass тест",
                                    "ApplePass " + "x" * 5000, "applepass x"])
async def test_missing_or_forged_auth_is_a_401(client, apple_app, header: str) -> None:  # type: ignore[no-untyped-def]
    card = await a_card(client, apple_app)
    serial = card["serialNumber"]
    headers = {"Authorization": header} if header else {}
    for method, path in (("POST", f"{DEVICES}/{serial}"), ("DELETE", f"{DEVICES}/{serial}"),
                         ("GET", f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{serial}")):
        response = await client.request(method, path, json={"pushToken": PUSH_TOKEN}, headers=headers)
        assert response.status == 401, (method, path)


async def test_an_unknown_serial_is_a_401_even_with_its_own_token(client, apple_app) -> None:  # type: ignore[no-untyped-def]
    apple = apple_app.wallet.apple
    for serial in ("0" * 32, "x" * 2000, "%00", "..%2F..%2Fetc"):
        token = apple.auth_token(serial)
        response = await client.get(f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{serial}",
                                    headers={"Authorization": f"ApplePass {token}"})
        assert response.status == 401, serial


@pytest.mark.parametrize("since", ["99999999999999999999", "0", "-1", "1e9", "abc", "１２３",
                                   "", "9" * 5000])
async def test_an_absurd_passes_updated_since_is_answered(client, apple_app, since: str) -> None:  # type: ignore[no-untyped-def]
    card = await a_card(client, apple_app)
    path = f"{DEVICES}/{card['serialNumber']}"
    assert (await client.post(path, json={"pushToken": PUSH_TOKEN}, headers=auth(card))).status == 201
    response = await client.get(DEVICES, params={"passesUpdatedSince": since})
    assert response.status in (200, 204)


@pytest.mark.parametrize("since", ["Mon, 01 Jan 0001 00:00:00 -2359", "Fri, 31 Dec 9999 23:59:59 +2359",
                                   "Thu, 31 Feb 2026 10:00:00 GMT", "Mon, 01 Jan 2026 99:99:99 GMT",
                                   "yesterday", "0", "Mon, 01 Jan 99999 00:00:00 GMT"])
async def test_an_absurd_if_modified_since_is_answered(client, apple_app, since: str) -> None:  # type: ignore[no-untyped-def]
    card = await a_card(client, apple_app)
    response = await client.get(f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{card['serialNumber']}",
                                headers={**auth(card), "If-Modified-Since": since})
    assert response.status in (200, 304)


@pytest.mark.parametrize("body", [NESTED, "not json", "[]", '{"logs": "one line"}', '{"logs": [1, {}, null]}',
                                  '{"logs": 5}', "null"])
async def test_apples_log_takes_anything_calmly(client, apple_app, body: str) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/wallet/apple/v1/log", data=body.encode(), headers=JSON)
    assert response.status == 200


@pytest.mark.parametrize("path", ["/wallet/apple/v1/devices", "/wallet/apple/v1/passes/x",
                                  "/wallet/apple/v1/devices//registrations/x",
                                  f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/"])
async def test_a_garbage_path_is_not_found(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get(path)).status in (401, 404, 405)


@pytest.mark.parametrize("link", ["x", ".", "..", "a.b", "тест.тест", "=" * 3000, "AAAA.AAAA",
                                  "%FF%FE.%00", "MS50ZWxlZ3JhbS5lbi45OTk5OTk5OTk5OTk5.xx"])
async def test_a_garbage_download_link_gets_the_polite_page(client, link: str) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/wallet/apple/{link}")
    assert response.status in (404, 410)


async def test_a_link_for_one_customer_never_opens_anothers_card(client, apple_app) -> None:  # type: ignore[no-untyped-def]
    anna_link = await apple_link(await member(apple_app))
    boris_link = await apple_link(await member(apple_app, external_id="43"))
    anna_body, anna_signature = anna_link.rsplit("/", 1)[1].split(".")
    boris_body, boris_signature = boris_link.rsplit("/", 1)[1].split(".")
    for spliced in (f"{anna_body}.{boris_signature}", f"{boris_body}.{anna_signature}",
                    f"{anna_body[:-1]}B.{anna_signature}"):
        assert (await client.get(f"/wallet/apple/{spliced}")).status == 410


async def test_a_nul_in_the_device_is_refused_on_every_database(app_on_each_database) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's text can't hold a NUL: such a device must never reach the database."""
    async with TestClient(TestServer(app_on_each_database.web)) as client:
        card = pass_json(await download(client, await member(app_on_each_database)))
        nul = "a1%00b2"
        listing = f"/wallet/apple/v1/devices/{nul}/registrations/{PASS_TYPE_ID}"
        assert (await client.get(listing)).status == 204
        registration = f"{listing}/{card['serialNumber']}"
        assert (await client.post(registration, json={"pushToken": PUSH_TOKEN},
                                  headers=auth(card))).status == 400
        assert (await client.delete(registration, headers=auth(card))).status == 200


async def test_a_serial_of_another_shape_is_a_401_on_every_database_even_with_its_token(
        app_on_each_database) -> None:  # type: ignore[no-untyped-def]
    """Whoever holds the installation secret can make a token for any serial: one with a
    NUL was looked up, and PostgreSQL failed the request (a 500)."""
    apple = app_on_each_database.wallet.apple
    async with TestClient(TestServer(app_on_each_database.web)) as client:
        await download(client, await member(app_on_each_database))
        for serial in ("a\u0000b", "\u0000" * 32, "A" * 32):
            token = {"Authorization": f"ApplePass {apple.auth_token(serial)}"}
            path = quote(serial)
            for method, url in (("GET", f"/wallet/apple/v1/passes/{PASS_TYPE_ID}/{path}"),
                                ("POST", f"{DEVICES}/{path}"), ("DELETE", f"{DEVICES}/{path}")):
                response = await client.request(method, url, json={"pushToken": PUSH_TOKEN},
                                                headers=token)
                assert response.status == 401, (method, serial)
