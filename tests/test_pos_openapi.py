"""The POS API's OpenAPI document: every route is described, the document is valid, and
real answers match the schemas it states."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from bot.api.openapi import document
from bot.api.pos import PREFIX
from tests.till import PHONE, UNKNOWN_CARD, Till, member, new_key

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def described(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method in METHODS}


def routed(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(route.method, route.resource.canonical) for route in app.web.router.routes()
            if route.resource is not None and route.resource.canonical.startswith(PREFIX)}


@pytest.fixture
async def till(app) -> AsyncIterator[Till]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app))


def test_the_document_is_valid_openapi():
    validate(document())


async def test_every_route_is_described_and_nothing_else(app):
    assert routed(app) and routed(app) == described(document())


def check(spec: dict[str, Any], schema: str, instance: Any) -> None:
    root = {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    OAS31Validator(root).validate(instance)


async def test_real_answers_match_the_described_schemas(till):
    status, spec = await till.call("GET", f"{PREFIX}/openapi.json", key="")
    assert status == 200 and spec == document()
    status, card = await till.call("POST", f"{PREFIX}/customers", {"phone": PHONE})
    check(spec, "Card", card)
    await member(till, points=500)
    check(spec, "Card", (await till.card(card["card_number"], amount="100.00"))[1])
    bought = await till.buy(card=card["card_number"], amount="100.00", receipt_id="R1",
                            spend_points=3)
    check(spec, "Purchase", bought[1])
    check(spec, "Refund", (await till.refund("R1", {"amount": "50", "refund_id": "r-1"}))[1])
    errors = [(f"{PREFIX}/cards/{{card}}", "get", await till.card(UNKNOWN_CARD)),
              (f"{PREFIX}/purchases", "post", await till.buy(phone=PHONE)),
              (f"{PREFIX}/purchases/{{receipt_id}}/refund", "post",
               await till.refund("R1", {"amount": "1e9"}))]
    for path, method, (status, error) in errors:
        assert str(status) in spec["paths"][path][method]["responses"]
        check(spec, "Error", error)


def test_the_amount_pattern_agrees_with_the_parser():
    validator = OAS31Validator(document()["components"]["schemas"]["Amount"])
    for good in ("1500", "1500.5", "1500.00"):
        assert validator.is_valid(good)
    for bad in ("1,500.00", "1e9", "-5", "1500.001", " 1"):
        assert not validator.is_valid(bad)
