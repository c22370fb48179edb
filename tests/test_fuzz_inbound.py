"""Every inbound parser fed Hypothesis-made bodies behind a valid signature: the Telegram,
Viber and WhatsApp webhooks and the web chat's frames. Never a 5xx, never an identity
without a proper id, and the server answers the next real request."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import build
from bot.channels.viber import sign
from bot.storage.models import Identity
from tests.chat import owner_settings

# keys the parsers look for, so that the bodies get past the first checks now and then
KEYS = ["entry", "changes", "value", "field", "metadata", "phone_number_id", "messages", "from",
        "id", "type", "text", "body", "contacts", "wa_id", "profile", "name", "interactive",
        "button_reply", "statuses", "status", "errors", "update_id", "message", "message_id",
        "chat", "date", "callback_query", "data", "event", "sender", "user", "timestamp",
        "message_token", "contact", "phone_number", "user_id", "image", "caption"]
SCALARS = st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.text(max_size=30) | \
    st.sampled_from(["messages", "1", "text", "subscribed", "message", "private", "failed"])
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5), max_leaves=30)
BODIES = JSON.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=200)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
async def client(db_url, clock) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    config = owner_settings(
        db_url, telegram={"token": "123:ABC", "mode": "webhook", "webhook_secret": "s3cret",
                          "api_base": "http://127.0.0.1:9"},
        viber={"token": "viber-token", "api_base": "http://127.0.0.1:9"},
        whatsapp={"phone_id": "1", "token": "t", "app_secret": "app-secret",
                  "verify_token": "v", "api_base": "http://127.0.0.1:9"})
    app = await build(config, clock)
    async with TestClient(TestServer(app.web)) as test_client:
        test_client.app_under_test = app  # type: ignore[attr-defined]
        yield test_client
    await app.close()


async def identities_are_proper(client: TestClient) -> None:
    app = client.app_under_test  # type: ignore[attr-defined]
    async with app.core.unit_of_work() as uow:
        ids = (await uow.session.execute(select(Identity.external_id))).scalars().all()
    assert all(0 < len(external) <= 64 for external in ids), ids
    assert (await client.get("/")).status == 200


@FUZZ
@given(body=BODIES)
async def test_whatsapp_webhook(client, body):
    digest = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    answer = await client.post("/whatsapp/webhook", data=body,
                               headers={"X-Hub-Signature-256": f"sha256={digest}"})
    assert answer.status < 500
    await identities_are_proper(client)


@FUZZ
@given(body=BODIES)
async def test_viber_webhook(client, body):
    answer = await client.post("/viber/webhook", data=body,
                               headers={"X-Viber-Content-Signature": sign("viber-token", body)})
    assert answer.status < 500
    await identities_are_proper(client)


@FUZZ
@given(body=BODIES)
async def test_telegram_webhook(client, body):
    answer = await client.post("/telegram/webhook", data=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"})
    assert answer.status < 500
    await identities_are_proper(client)


@FUZZ
@given(frames=st.lists(BODIES, min_size=1, max_size=5))
async def test_web_chat_frames(client, frames):
    await client.get("/")
    ws = await client.ws_connect("/web/ws")
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "history"
    for frame in frames:
        await ws.send_str(frame.decode("utf-8", "replace"))
    await ws.send_json({"type": "text", "text": "/help"})
    while True:  # the socket is still there and answers
        reply = json.loads((await ws.receive(timeout=5)).data)
        if reply.get("type") not in ("mine", "seen", "ui"):
            break
    assert not ws.closed
    await ws.close()
    await identities_are_proper(client)
