"""The POS API fuzzed by schemathesis from the OpenAPI description the app itself serves:
requests made from the schemas (fitting them, and not), with a till's key, an admin's key,
a revoked key and no key, against the real aiohttp app on 127.0.0.1, on SQLite and on
PostgreSQL. Proves that no request gets a 5xx and that every answer is one the description
documents: its status code, its content type, its headers and its body schema.

Only those checks: the description does not claim that every request fitting the schemas
is accepted (a card number has a check digit, a phone must be one) nor that every other one
is refused (unknown query parameters are ignored), so schemathesis's
``positive_data_acceptance`` and ``negative_data_rejection`` are left out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import configuration, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.api.keys import revoke_key
from bot.api.openapi import document
from bot.api.pos import PREFIX
from bot.app import build
from bot.storage.models import OutboxMessage, TriggerSend
from bot.storage.uow import UnitOfWork
from tests.chat import owner_settings
from tests.conftest import START
from tests.till import PHONE, Till, member, new_key

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# cases per operation and key, fitting and unfitting requests together; fewer without a
# valid key, as the server then answers 401 before it reads anything else
EXAMPLES = {"till key": 100, "admin key": 100, "revoked key": 50, "no key": 50}
FUZZ = settings(derandomize=True, deadline=None, database=None)
OTHER_PHONE = "+79007654321"


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis caches more than examples under ./.hypothesis: keep them out of the repo."""
    configuration.set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    configuration.set_hypothesis_home_dir(None)


@pytest.fixture
async def till(any_db_url: str, clock) -> AsyncIterator[Till]:  # type: ignore[no-untyped-def]
    app = await build(owner_settings(any_db_url), clock)
    try:
        async with TestClient(TestServer(app.web, host="127.0.0.1")) as client:
            yield Till(app, client, await new_key(app))
    finally:
        await app.close()


async def known_values(till: Till) -> list[dict[str, str]]:
    """Two customers, a purchase and a trigger's sends, as field values that find them: a
    card number or a QR token, a phone, a receipt of this till's outlet, a report's dates."""
    cards = [await member(till, phone, points=500, purchases=3) for phone in (PHONE, OTHER_PHONE)]
    status, _ = await till.buy(card=cards[0]["card_number"], amount="100.00", receipt_id="R1")
    assert status == 201
    async with till.app.core.unit_of_work() as uow:
        ids = [(await uow.customers.by_card_number(card["card_number"])).id for card in cards]
        await win_back(uow, ids)
        await uow.commit()
    token = till.app.core.services.card_tokens.issue(ids[1], START)
    return [{"card": cards[0]["card_number"], "phone": PHONE, "receipt_id": "R1"},
            {"card": f"card-{token}", "phone": OTHER_PHONE, "receipt_id": "R1"},
            {"from": "2026-03-01", "to": "2026-03-31"}]


async def win_back(uow: UnitOfWork, customer_ids: list[int]) -> None:
    """A win-back message the day before the purchase to the first customer, who came back;
    the second held out."""
    at = START - timedelta(days=1)
    message = OutboxMessage(channel="telegram", external_id="42", category="marketing",
                            payload=[], status="sent", attempts=1, not_before=at, created_at=at)
    uow.session.add(message)
    await uow.session.flush()
    for customer_id, message_id in zip(customer_ids, (message.id, None), strict=True):
        uow.session.add(TriggerSend(customer_id=customer_id, trigger="win_back_30", episode="e",
                                    held_out=message_id is None, outbox_message_id=message_id,
                                    points_given=0, created_at=at))


async def keys(till: Till) -> dict[str, str | None]:
    revoked = await new_key(till.app)
    async with till.app.core.unit_of_work() as uow:
        await revoke_key(uow, revoked, START)
        await uow.commit()
    return {"till key": till.key, "admin key": await new_key(till.app, role="admin"),
            "revoked key": revoked, "no key": None}


def with_known(case: Case, known: dict[str, str] | None) -> Case:
    """The case with the fields it shares with ``known`` set to values that exist, so that
    requests reach real customers, receipts and reports now and then."""
    if known:
        for fields in (case.path_parameters, case.query, case.body):
            if isinstance(fields, dict):
                fields.update({name: known[name] for name in fields.keys() & known.keys()})
    return case


def cases(operation: APIOperation, known: list[dict[str, str]]) -> st.SearchStrategy[Case]:
    # only fitting cases get real values: an unfitting one must stay unfitting
    fitting = st.tuples(operation.as_strategy(GenerationMode.POSITIVE),
                        st.sampled_from([None, *known])).map(lambda pair: with_known(*pair))
    return fitting | operation.as_strategy(GenerationMode.NEGATIVE)


def fuzz(base_url: str, key: str | None, examples: int,
         known: list[dict[str, str]]) -> Counter[str]:
    """``examples`` cases for every operation of the served description; the number sent per
    operation. A failed check fails the test with schemathesis's report and a curl line."""
    schema = schemathesis.openapi.from_url(f"{base_url}{PREFIX}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"} if key else None
    sent: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(FUZZ, max_examples=examples)
        @given(case=cases(operation, known))
        def run(case: Case) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            sent[operation.label] += 1  # noqa: B023 - run() runs right below, in this iteration

        run()
    return sent


def operations_needing_a_key() -> set[str]:
    """All but the description itself, which schemathesis skips as the schema's address."""
    return {f"{method.upper()} {path}" for path, item in document()["paths"].items()
            for method, operation in item.items() if operation.get("security") != []}


def summary(counts: dict[str, Counter[str]]) -> str:
    rows = [["operation", *counts, "total"]] + [
        [label, *(str(sent[label]) for sent in counts.values()),
         str(sum(sent[label] for sent in counts.values()))]
        for label in sorted(operations_needing_a_key())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     for row in rows)


async def test_every_answer_is_documented_and_none_is_a_server_error(till: Till) -> None:
    base_url = str(till.client.make_url("")).rstrip("/")
    known = await known_values(till)
    counts = {name: await asyncio.to_thread(fuzz, base_url, key, EXAMPLES[name], known)
              for name, key in (await keys(till)).items()}
    print(f"\ncases sent per operation and key:\n{summary(counts)}")
    for name, sent in counts.items():
        assert sent == dict.fromkeys(operations_needing_a_key(), EXAMPLES[name]), summary(counts)
