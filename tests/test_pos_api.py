"""The POS API as a till uses it: real HTTP against the application's own aiohttp app."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.api.keys import hash_key
from bot.app import Application, build
from bot.config import Settings
from bot.loyalty.cards import TOKEN_PREFIX, CardTokens, format_card_number
from bot.loyalty.checkout import Checkout
from bot.storage.models import Customer, Identity, OutboxMessage, PointLot, Purchase
from tests.conftest import START
from tests.till import PHONE, UNKNOWN_CARD, Recorder, Till, count, member, new_key


@pytest.fixture
async def till(app: Application) -> AsyncIterator[Till]:
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app))


@pytest.fixture
def messenger(app: Application) -> Recorder:
    recorder = Recorder()
    app.core.notifier.channels["telegram"] = recorder
    return recorder


# --- keys and the description ---------------------------------------------------------------

ROUTES = [("GET", f"/api/v1/cards/{UNKNOWN_CARD}"), ("POST", "/api/v1/customers"),
          ("POST", "/api/v1/purchases"), ("POST", "/api/v1/purchases/R1/refund")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_refuses_a_missing_unknown_or_revoked_key(till, method, path):
    revoked = await new_key(till.app)
    async with till.app.core.unit_of_work() as uow:
        (await uow.outlets.by_key_hash(hash_key(revoked))).revoked_at = START
        await uow.commit()
    for key in ("", "not-a-key", revoked):
        status, body = await till.call(method, path, {"phone": PHONE}, key=key)
        assert (status, body["error"]) == (401, "unauthorized"), (key, body)
    response = await till.client.request(method, path, json={"phone": PHONE},
                                         headers={"Authorization": f"Basic {till.key}"})
    assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_description_is_served_without_a_key(till):
    status, spec = await till.call("GET", "/api/v1/openapi.json", key="")
    assert status == 200 and spec["openapi"].startswith("3.")


async def test_unknown_paths_and_methods_answer_json(till):
    assert (await till.call("GET", "/api/v1/nothing"))[0] == 404
    status, body = await till.call("DELETE", "/api/v1/purchases")
    assert (status, body["error"], body["allowed"]) == (405, "method_not_allowed", ["POST"])


# --- cards ------------------------------------------------------------------------------------

async def test_a_card_is_found_by_its_number_or_its_qr_token(till):
    card = await member(till, points=1000, purchases=6)  # the next purchase is the 7th: Platinum
    number = card["card_number"]
    customer_id = await customer_id_of(till, number)
    token = till.app.core.services.card_tokens.issue(customer_id, START)
    for text in (number, format_card_number(number), token, TOKEN_PREFIX + token):
        status, body = await till.card(text)
        assert status == 200
        assert body == {"card_number": number, "name": "Anna", "tier": "gold", "balance": 1000,
                        "purchase_count": 6, "blocked": False}
    status, body = await till.card(number, amount="4000.00")
    assert body["spend_cap"] == 600


async def customer_id_of(till: Till, number: str) -> int:
    async with till.app.core.unit_of_work() as uow:
        return (await uow.customers.by_card_number(number)).id


async def test_a_wrong_card_or_token_is_refused_with_a_clear_code(till, clock):
    card = await member(till)
    number = card["card_number"]
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert (await till.card(wrong))[1]["error"] == "invalid_card_number"
    assert (await till.card(UNKNOWN_CARD)) == (404, {"error": "card_not_found",
                                                      "message": "no customer has this card"})
    customer_id = await customer_id_of(till, number)
    elsewhere = CardTokens(b"another-installation-key", timedelta(minutes=10))
    token = till.app.core.services.card_tokens.issue(customer_id, START)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for text in (elsewhere.issue(customer_id, START), forged, "card-garbage"):
        status, answer = await till.card(text)
        assert (status, answer["error"]) == (422, "invalid_card_token"), text
    clock.advance(hours=1)
    assert (await till.card(token))[1]["error"] == "invalid_card_token"  # a stale screenshot
    assert (await till.card(number, amount="1,500.00"))[1]["error"] == "invalid_amount"


# --- enrolment --------------------------------------------------------------------------------

async def test_enrolment_at_the_till_is_the_same_account_in_the_bot(till, chat):
    status, card = await till.enrol(phone="8 (900) 123-45-67", name=" Anna  K ", birthday="14.03")
    assert status == 201 and card["name"] == "Anna K" and card["balance"] == 0
    again, same = await till.enrol(phone=PHONE, name="Someone else")
    assert again == 200 and same == card  # idempotent, nothing changed
    await chat("42").sign_up(phone=PHONE)
    async with till.app.core.unit_of_work() as uow:
        customers = (await uow.session.execute(select(Customer))).scalars().all()
        identity = (await uow.session.execute(select(Identity))).scalar_one()
    assert len(customers) == 1 and identity.customer_id == customers[0].id
    joined = customers[0]
    assert joined.phone_verified and joined.source == "pos" and joined.consent_at == START
    assert joined.registered_at is not None  # the bot finished the profile
    assert (await till.card(card["card_number"]))[1]["balance"] == 100  # and gave the bonus


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"phone": "12"}, 422, "invalid_phone"),
    ({"phone": PHONE, "birthday": "31.02.1990"}, 422, "invalid_birthday"),
    ({"phone": PHONE, "name": "x" * 65}, 422, "invalid_name"),
    ({"name": "Anna"}, 400, "invalid_request"),
    ({"phone": 79001234567}, 400, "invalid_request"),
    ({"phone": PHONE, "email": "a@b.c"}, 400, "invalid_request"),
    ([PHONE], 400, "invalid_request"),
])
async def test_enrolment_errors(till, body, status, code):
    answer = await till.call("POST", "/api/v1/customers", body)
    assert (answer[0], answer[1]["error"]) == (status, code)
    assert answer[1]["message"]
    assert await count(till.app, Customer) == 0


async def test_malformed_json_is_400(till):
    status, body = await till.call("POST", "/api/v1/purchases", raw="{not json")
    assert (status, body["error"]) == (400, "malformed_json")


# --- purchases --------------------------------------------------------------------------------

async def test_a_purchase_earns_and_the_customer_is_told(till, chat, messenger):
    await chat("42").sign_up(phone=PHONE)  # the welcome bonus: 100 points
    status, card = await till.enrol(phone=PHONE)
    assert status == 200 and card["balance"] == 100
    status, body = await till.buy(card=card["card_number"], amount="1500.00", receipt_id="R1",
                                  spend_points=56)
    assert status == 201
    assert body == {"purchase_id": body["purchase_id"], "receipt_id": "R1", "amount": "1500.00",
                    "earned": 43, "spent": 56, "balance": 87, "tier": "silver"}  # 3 % of 1444
    await till.app.outbox.send_due()
    assert [recipient for recipient, _ in messenger.sent] == ["42"]
    assert "87" in messenger.sent[0][1]


async def test_the_same_receipt_three_times_earns_once(till, messenger):
    card = await member(till, points=500)
    answers = [await till.buy(card=card["card_number"], amount="1000.00", receipt_id="R1",
                              spend_points=10) for _ in range(3)]
    assert [status for status, _ in answers] == [201, 200, 200]
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert (await till.card(card["card_number"]))[1]["balance"] == 500 - 10 + 29
    assert await count(till.app, Purchase) == 1
    status, body = await till.buy(card=card["card_number"], amount="999.00", receipt_id="R1")
    assert (status, body["error"]) == (409, "receipt_conflict")


async def test_spending_above_the_cap_is_refused_with_the_cap(till):
    card = await member(till, points=1000)
    status, body = await till.buy(card=card["card_number"], amount="4000.00", receipt_id="R1",
                                  spend_points=151)
    assert (status, body["error"], body["cap"]) == (422, "spend_above_cap", 150)
    assert await count(till.app, Purchase) == 0


async def test_purchases_by_phone_and_unknown_customers(till):
    await member(till)
    status, body = await till.buy(phone="8 900 123 45 67", amount="100", receipt_id="R1")
    assert (status, body["earned"]) == (201, 3)
    status, body = await till.buy(phone="+79007654321", amount="100", receipt_id="R2")
    assert (status, body["error"]) == (404, "customer_not_found")
    status, body = await till.buy(card=UNKNOWN_CARD, amount="100", receipt_id="R3")
    assert (status, body["error"]) == (404, "card_not_found")


@pytest.mark.parametrize("amount", ["abc", "-5", "0", "0.00", "1e9", "1,500.00", "1500,00",
                                    "1500.001", "99999999999", " 100", "", 1500, 15.5])
async def test_bad_amounts_are_refused(till, amount):
    card = await member(till)
    status, body = await till.buy(card=card["card_number"], amount=amount, receipt_id="R1")
    assert (status, body["error"]) == (422, "invalid_amount"), body


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"receipt_id": "x" * 65}, 422, "invalid_receipt_id"),
    ({"receipt_id": ""}, 422, "invalid_receipt_id"),
    ({"receipt_id": "R\n1"}, 422, "invalid_receipt_id"),
    ({"spend_points": -1}, 422, "invalid_spend_points"),
    ({"spend_points": "10"}, 400, "invalid_request"),
    ({"spend_points": True}, 400, "invalid_request"),
    ({"occurred_at": "2026-03-01T10:00:00"}, 422, "invalid_date"),
    ({"occurred_at": "yesterday"}, 422, "invalid_date"),
    ({"occurred_at": "2026-03-02T12:00:00+00:00"}, 422, "future_date"),
    ({"phone": PHONE}, 400, "invalid_request"),
    ({"card": None}, 400, "invalid_request"),
    ({"amount": None}, 400, "invalid_request"),
    ({"spend_point": 10}, 400, "invalid_request"),
])
async def test_purchase_field_errors(till, changes, status, code):
    card = await member(till, points=100)
    body = {"card": card["card_number"], "amount": "100.00", "receipt_id": "R1", **changes}
    answer = await till.buy(**body)
    assert (answer[0], answer[1]["error"]) == (status, code), answer
    assert await count(till.app, Purchase) == 0


async def test_past_receipts_keep_their_date_and_a_till_a_little_ahead_counts_as_now(till):
    card = await member(till)
    number = card["card_number"]
    assert (await till.buy(card=number, amount="10", receipt_id="R1",
                           occurred_at="2026-02-01T12:00:00+03:00"))[0] == 201
    assert (await till.buy(card=number, amount="10", receipt_id="R2",
                           occurred_at=(START + timedelta(minutes=1)).isoformat()))[0] == 201
    async with till.app.core.unit_of_work() as uow:
        dates = (await uow.session.execute(
            select(Purchase.occurred_at).order_by(Purchase.id))).scalars().all()
    assert [d.isoformat() for d in dates] == ["2026-02-01T09:00:00+00:00", START.isoformat()]


# --- refunds ----------------------------------------------------------------------------------

async def test_a_full_refund_reverses_the_points_and_the_customer_is_told(till, chat, messenger):
    await chat("42").sign_up(phone=PHONE)
    card = await member(till, points=400)  # 100 welcome + 400
    await till.buy(card=card["card_number"], amount="4000.00", receipt_id="R1", spend_points=150)
    await till.app.outbox.send_due()
    status, body = await till.refund("R1")
    assert status == 200
    assert body == {"receipt_id": "R1", "refunded": "4000.00", "refunded_total": "4000.00",
                    "points_returned": 150, "points_reversed": 115, "balance": 500}
    await till.app.outbox.send_due()
    assert len(messenger.sent) == 2
    retried_status, retried = await till.refund("R1")  # the till did not hear the answer
    assert (retried_status, retried) == (200, body)
    await till.app.outbox.send_due()
    assert len(messenger.sent) == 2  # and the customer is not told twice


async def test_a_partial_refund_needs_an_id_and_an_id_reused_for_another_amount_is_refused(till):
    card = await member(till, points=500)
    await till.buy(card=card["card_number"], amount="4000.00", receipt_id="R1")
    status, body = await till.refund("R1", {"amount": "1000.00"})
    assert (status, body["error"]) == (400, "invalid_request")
    assert (await till.refund("R1", {"amount": "1000.00", "refund_id": "a"}))[0] == 200
    status, body = await till.refund("R1", {"amount": "2000.00", "refund_id": "a"})
    assert (status, body["error"]) == (409, "refund_conflict")
    status, body = await till.refund("R1", {"amount": "3500.00", "refund_id": "b"})
    assert (status, body["error"], body["refundable"]) == (409, "refund_too_large", "3000.00")


async def test_partial_refunds_are_idempotent_by_refund_id(till):
    card = await member(till, points=500)
    await till.buy(card=card["card_number"], amount="4000.00", receipt_id="2026/17",
                   spend_points=100)
    first = await till.refund("2026%2F17", {"amount": "2000.00", "refund_id": "ret-1"})
    again = await till.refund("2026%2F17", {"amount": "2000.00", "refund_id": "ret-1"})
    assert first == again and first[0] == 200
    assert (first[1]["points_returned"], first[1]["points_reversed"]) == (50, 59)
    status, body = await till.refund("2026%2F17", {"amount": "2000.01", "refund_id": "ret-2"})
    assert (status, body["error"], body["refundable"]) == (409, "refund_too_large", "2000.00")
    assert (await till.refund("2026%2F17", {"amount": "0", "refund_id": "r"}))[1]["error"] == "invalid_amount"
    assert (await till.refund("2026%2F17", {"refund_id": ""}))[1]["error"] == "invalid_refund_id"
    assert (await till.refund("2026%2F17", {"reason": "x"}))[0] == 400
    status, body = await till.refund("R404")
    assert (status, body["error"]) == (404, "unknown_receipt")


async def test_a_key_sees_only_its_own_outlet(till):
    card = await member(till)
    await till.buy(card=card["card_number"], amount="100", receipt_id="R1")
    other = Till(till.app, till.client, await new_key(till.app, "Station Road"))
    assert (await other.refund("R1"))[1]["error"] == "unknown_receipt"
    status, body = await other.buy(card=card["card_number"], amount="200", receipt_id="R1")
    assert status == 201 and body["amount"] == "200.00"  # receipts are unique per outlet


# --- failures ---------------------------------------------------------------------------------

async def test_an_unexpected_failure_is_a_logged_500_without_details(till, monkeypatch, caplog):
    card = await member(till)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Checkout, "purchase", broken)
    with caplog.at_level(logging.ERROR):
        response = await till.client.post(
            "/api/v1/purchases", headers={"Authorization": f"Bearer {till.key}"},
            json={"card": card["card_number"], "amount": "100", "receipt_id": "R1"})
    text = await response.text()
    assert response.status == 500 and "secret" not in text and "Traceback" not in text
    assert (await response.json())["error"] == "internal_error"
    assert "secret internals" in caplog.text


async def test_a_messenger_that_is_down_does_not_fail_the_purchase(till, chat, messenger,
                                                                 monkeypatch, caplog):
    await chat("42").sign_up(phone=PHONE)
    card = await member(till)

    async def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("messenger unreachable")

    monkeypatch.setattr(messenger, "deliver", down)
    status, _ = await till.buy(card=card["card_number"], amount="100", receipt_id="R1")
    assert status == 201
    assert await till.app.outbox.send_due() == 0  # queued with the purchase, retried later
    async with till.app.core.unit_of_work() as uow:
        [message] = (await uow.session.execute(select(OutboxMessage))).scalars()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "messenger unreachable" in (message.error or "")
    assert "messenger unreachable" in caplog.text


# --- concurrency, on SQLite and on PostgreSQL -------------------------------------------------

@pytest.fixture
async def shared_till(any_db_url: str, clock) -> AsyncIterator[Till]:  # type: ignore[no-untyped-def]
    settings = Settings(database={"url": any_db_url}, card={"secret": "test-signing-key-0123456789"})
    application = await build(settings, clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            yield Till(application, client, await new_key(application))
    finally:
        await application.close()


async def test_concurrent_spends_on_one_card_never_go_negative(shared_till):
    till = shared_till
    card = await member(till, points=1000, purchases=10)  # Platinum: 150 of a 1000 purchase
    answers = await asyncio.gather(*(
        till.buy(card=card["card_number"], amount="1000.00", receipt_id=f"R{n}", spend_points=150)
        for n in range(100)))
    statuses = sorted(status for status, _ in answers)
    # each purchase nets -150 + 59: ten fit into 1000 points, then the cap is the balance
    assert statuses == [201] * 10 + [422] * 90
    assert {body["error"] for status, body in answers if status == 422} == {"spend_above_cap"}
    assert (await till.card(card["card_number"]))[1]["balance"] == 1000 - 10 * 91
    async with till.app.core.unit_of_work() as uow:
        remaining = (await uow.session.execute(select(PointLot.remaining))).scalars().all()
    assert min(remaining) >= 0 and sum(remaining) == 90


async def test_concurrent_duplicates_record_one_purchase(shared_till):
    till = shared_till
    card = await member(till, points=100)
    same = await asyncio.gather(*(
        till.buy(card=card["card_number"], amount="500.00", receipt_id="R1", spend_points=10)
        for _ in range(10)))
    assert sorted(status for status, _ in same) == [200] * 9 + [201]
    assert len({repr(body) for _, body in same}) == 1
    others = [await member(till, phone=f"+7900765432{n}") for n in range(5)]
    clash = await asyncio.gather(*(
        till.buy(card=other["card_number"], amount="100", receipt_id="R2") for other in others))
    assert sorted(status for status, _ in clash) == [201] + [409] * 4
    assert await count(till.app, Purchase) == 2


async def test_concurrent_enrolments_of_one_phone_make_one_customer(shared_till):
    till = shared_till
    answers = await asyncio.gather(*(till.enrol(phone=PHONE) for _ in range(10)))
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert len({body["card_number"] for _, body in answers}) == 1
    assert await count(till.app, Customer) == 1


# --- the command line -------------------------------------------------------------------------

def test_a_key_never_starts_with_a_dash_which_a_command_line_takes_for_an_option(monkeypatch):
    """One key in 64 drawn by token_urlsafe starts with "-": `keys revoke <that key>` failed."""
    import secrets

    from bot.api import keys

    drawn = iter(["-dash-first-" + "a" * 31, "b" * 43])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert keys.new_key() == "b" * 43


def test_outlets_and_keys_from_the_command_line(db_url, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no config.toml here
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)
    monkeypatch.setenv("LOYALTY_DATABASE__URL", db_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--log-level", "WARNING", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("outlets", "add", "Station Road")[0] == 0
    assert run("outlets", "add", "Station Road")[0] == 1
    assert run("outlets", "list")[1].split() == ["1", "Main", "2", "Station", "Road"]
    code, out, _ = run("keys", "create", "--outlet", "Station Road", "--label", "till 1")
    key = out.splitlines()[-1]
    assert code == 0 and len(key) >= 40
    assert run("keys", "create", "--outlet", "Nowhere")[0] == 1
    database = sqlite3.connect(db_url.removeprefix("sqlite+aiosqlite:///"))
    stored = database.execute("SELECT key_hash, outlet_id, label FROM pos_keys").fetchall()
    assert stored == [(hash_key(key), 2, "till 1")]  # the key itself is not stored
    assert "active" in run("keys", "list")[1]
    assert run("keys", "revoke", key[:8])[0] == 1  # neither an id nor a whole key
    assert run("keys", "revoke", "9" * 30)[0] == 1  # no id: past the database's integers
    assert run("keys", "revoke", "1")[0] == 0
    assert "revoked" in run("keys", "list")[1]
    assert database.execute("SELECT revoked_at IS NOT NULL FROM pos_keys").fetchone() == (1,)
    code, out, _ = run("keys", "create", "--outlet", "Main", "--admin")
    assert code == 0 and out.startswith("admin key 2 for outlet 'Main'")
    assert run("keys", "list")[1].splitlines()[1].split("\t")[:3] == ["2", "Main", "admin"]


async def test_purchases_and_refunds_record_which_till_made_them(till):
    from sqlalchemy import select

    from bot.api.keys import hash_key
    from bot.storage.models import PosKey, Purchase, Refund

    card = await member(till, points=0)
    await till.buy(card=card["card_number"], amount="100.00", receipt_id="R1")
    await till.refund("R1")
    async with till.app.core.unit_of_work() as uow:
        key_id = (await uow.session.execute(
            select(PosKey.id).where(PosKey.key_hash == hash_key(till.key)))).scalar_one()
        purchase = (await uow.session.execute(select(Purchase))).scalar_one()
        refund = (await uow.session.execute(select(Refund))).scalar_one()
    assert purchase.pos_key_id == key_id and refund.pos_key_id == key_id
    assert purchase.actor_identity_id is None  # no cashier in the chat did it
