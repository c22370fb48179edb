"""The OpenAPI 3.1 description of the POS API, served at /api/v1/openapi.json.
tests/test_pos_openapi.py checks that every route is described and the document is valid."""

from __future__ import annotations

from typing import Any

# 0.01 to 10,000,000.00, at most two decimals: exactly what the server takes (bot/loyalty/money.py)
AMOUNT_PATTERN = r"^(?:10000000(?:\.0{1,2})?|(?!0+(?:\.0{1,2})?$)\d{1,7}(?:\.\d{1,2})?)$"

ROUNDING = ("Amounts are decimal strings with a dot and at most two decimals (\"1500.00\"); "
            "points are whole currency units, always rounded down.")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """The error answers of an operation; every one may also fail with 500."""
    return {str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
            for status in (*statuses, 500)}


_ERRORS = {
    400: ("BadRequest", ("Malformed JSON (`malformed_json`) or a body of the wrong shape "
                         "(`invalid_request`: a missing, unknown or mistyped field).")),
    401: ("Unauthorized", "No API key, or an unknown or revoked one (`unauthorized`)."),
    403: ("Forbidden", "A till's key where an admin key is needed (`forbidden`)."),
    404: ("NotFound", "`card_not_found`, `customer_not_found` or `unknown_receipt`."),
    409: ("Conflict", ("`receipt_conflict` (the receipt is recorded with other data), "
                       "`refund_conflict` (the refund_id is recorded with another amount) or "
                       "`refund_too_large` (with `refundable`).")),
    423: ("Locked", ("`card_blocked`: an admin blocked this card after a velocity alert; it "
                     "neither earns nor spends points until they unblock it. Sell without it.")),
    422: ("Unprocessable", ("A value the rules refuse: `invalid_amount`, `invalid_phone`, "
                            "`invalid_card_number`, `invalid_card_token`, `invalid_birthday`, "
                            "`invalid_name`, `invalid_receipt_id`, `invalid_refund_id`, "
                            "`invalid_spend_points`, `invalid_date`, `future_date`, "
                            "`spend_above_cap` (with `cap` and `requested`).")),
    500: ("InternalError", ("Something failed on the server (`internal_error`); it is logged. "
                            "Retrying is safe: purchases and refunds are idempotent.")),
}

_SCHEMAS: dict[str, Any] = {
    "Amount": {"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["1500.00"],
               "description": ROUNDING + " An amount sent: 0.01 to 10,000,000.00."},
    "Money": {"type": "string", "pattern": r"^\d{1,12}\.\d{2}$", "examples": ["1500.00", "0.00"],
              "description": "An amount answered, with two decimals (may be 0.00)."},
    "Tier": {"type": ["string", "null"], "description": "Tier code; null before the first purchase.",
             "examples": ["silver"]},
    "Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {"error": {"type": "string", "description": "A stable code."},
                       "message": {"type": "string", "description": "For people; may change."},
                       "cap": {"type": "integer"}, "requested": {"type": "integer"},
                       "refundable": _ref("Money")},
    },
    "Card": _object(
        ["card_number", "name", "tier", "balance", "purchase_count", "blocked"],
        card_number={"type": "string", "examples": ["400012345674"]},
        name={"type": ["string", "null"]},
        tier=_ref("Tier"),
        balance={"type": "integer", "minimum": 0, "description": "Points available now."},
        purchase_count={"type": "integer", "minimum": 0},
        blocked={"type": "boolean",
                 "description": "An admin blocked the card: a purchase on it answers 423."},
        spend_cap={"type": "integer", "minimum": 0,
                   "description": "With ?amount=: the most points this purchase may take."},
    ),
    "Enrolment": _object(
        ["phone"],
        phone={"type": "string", "examples": ["+7 900 123-45-67"]},
        name={"type": ["string", "null"], "maxLength": 64},
        birthday={"type": ["string", "null"], "description": "DD.MM.YYYY or DD.MM",
                  "examples": ["14.03.1990"]},
    ),
    "PurchaseRequest": {
        **_object(
            ["amount", "receipt_id"],
            card={"type": "string", "description": "Card number (spaces allowed), the QR "
                                                   "token with or without `card-`, or a wallet "
                                                   "card's `pass-` token."},
            phone={"type": "string", "description": "A verified phone (instead of card)."},
            amount=_ref("Amount"),
            receipt_id={"type": "string", "minLength": 1, "maxLength": 64,
                        "description": "Unique per outlet; a retry with it changes nothing."},
            spend_points={"type": ["integer", "null"], "minimum": 0},
            occurred_at={"type": ["string", "null"], "format": "date-time",
                         "description": "With a UTC offset; never in the future, not before "
                                        "2000."},
        ),
        "oneOf": [{"required": ["card"]}, {"required": ["phone"]}],
    },
    "Purchase": _object(
        ["purchase_id", "receipt_id", "amount", "earned", "spent", "balance", "tier"],
        purchase_id={"type": "integer"}, receipt_id={"type": "string"}, amount=_ref("Money"),
        earned={"type": "integer", "minimum": 0}, spent={"type": "integer", "minimum": 0},
        balance={"type": "integer", "minimum": 0}, tier=_ref("Tier"),
    ),
    "RefundRequest": _object(
        [],
        amount={**_ref("Amount"), "description": "Absent: all that is left of the purchase "
                                                 "(a retry of that changes nothing)."},
        refund_id={"type": "string", "minLength": 1, "maxLength": 64,
                   "description": "The till's id of this refund, required with `amount`; a "
                                  "retry with it changes nothing."},
    ) | {"dependentRequired": {"amount": ["refund_id"]}},
    "Refund": _object(
        ["receipt_id", "refunded", "refunded_total", "points_returned", "points_reversed",
         "balance"],
        receipt_id={"type": "string"}, refunded=_ref("Money"), refunded_total=_ref("Money"),
        points_returned={"type": "integer", "minimum": 0,
                         "description": "Spent points given back (a new lot)."},
        points_reversed={"type": "integer", "minimum": 0,
                         "description": "Earned points taken back."},
        balance={"type": "integer", "minimum": 0},
    ),
    "ReportGroup": _object(
        ["size", "came_back", "conversion", "purchases", "revenue", "average_check",
         "points_spent"],
        size={"type": "integer", "minimum": 0},
        came_back={"type": "integer", "minimum": 0},
        conversion={"type": "number", "description": "Came back, percent of the group."},
        purchases={"type": "integer", "minimum": 0, "description": "Within the window."},
        revenue=_ref("Money"), average_check=_ref("Money"),
        points_spent={"type": "integer", "minimum": 0,
                      "description": "Points spent on purchases within the window."},
    ),
    "TriggerStats": _object(
        ["trigger", "eligible", "sent", "held_out", "delivered", "failed", "paid", "waiting",
         "points_given", "uplift", "recipients", "holdout"],
        trigger={"type": "string", "examples": ["win_back_30"]},
        eligible={"type": "integer", "minimum": 0, "description": "All picked customers."},
        sent={"type": "integer", "minimum": 0, "description": "Not held out, message queued."},
        held_out={"type": "integer", "minimum": 0},
        delivered={"type": "integer", "minimum": 0},
        failed={"type": "integer", "minimum": 0, "description": "Failed or blocked."},
        paid={"type": "integer", "minimum": 0,
              "description": "Delivered through a channel that charges for the messages the bot "
                             "starts."},
        waiting={"type": "integer", "minimum": 0,
                 "description": "Kept for web chat visitors who have not come back yet "
                                "(delivered when they do; not failed)."},
        points_given={"type": "integer", "minimum": 0},
        uplift={"type": "number", "description": "Percentage points: recipients − holdout."},
        recipients=_ref("ReportGroup"), holdout=_ref("ReportGroup"),
    ),
    "TriggerReport": _object(
        ["from", "to", "window_days", "triggers"],
        **{"from": {"type": "string", "format": "date"}},
        to={"type": "string", "format": "date"},
        window_days={"type": "integer", "minimum": 1},
        triggers={"type": "array", "items": _ref("TriggerStats")},
    ),
}


def _paths() -> dict[str, Any]:
    card = _json(_ref("Card"), "The customer's card.")
    return {
        "/api/v1/cards/{card}": {"get": {
            "operationId": "lookupCard", "summary": "Look up a card",
            "parameters": [
                {"name": "card", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "Card number (digits, spaces allowed), QR token or a wallet "
                                "card's `pass-` token."},
                {"name": "amount", "in": "query", "required": False, "schema": _ref("Amount"),
                 "description": "The purchase amount, to get `spend_cap`."},
            ],
            "responses": {"200": card, **_errors(401, 404, 422)},
        }},
        "/api/v1/customers": {"post": {
            "operationId": "enrolCustomer", "summary": "Enrol a customer at the till",
            "description": "The phone counts as verified: the person who later shares it in "
                           "the bot is the same customer. An existing phone answers 200 with "
                           "that customer and changes nothing.",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("Enrolment")}}},
            "responses": {"201": card, "200": card, **_errors(400, 401, 422)},
        }},
        "/api/v1/purchases": {"post": {
            "operationId": "recordPurchase", "summary": "Record a purchase",
            "description": "Idempotent by receipt_id within the outlet: a retry answers 200 "
                           "with the same body. " + ROUNDING,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("PurchaseRequest")}}},
            "responses": {"201": _json(_ref("Purchase"), "Recorded."),
                          "200": _json(_ref("Purchase"), "Already recorded (a retry)."),
                          **_errors(400, 401, 404, 409, 422, 423)},
        }},
        "/api/v1/purchases/{receipt_id}/refund": {"post": {
            "operationId": "refundPurchase", "summary": "Refund a purchase, fully or partly",
            "parameters": [{"name": "receipt_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": False,
                            "content": {"application/json": {"schema": _ref("RefundRequest")}}},
            "responses": {"200": _json(_ref("Refund"), "Refunded."),
                          **_errors(400, 401, 404, 409, 422)},
        }},
        "/api/v1/reports/triggers": {"get": {
            "operationId": "triggerReport", "summary": "Trigger reports",
            "description": "Per trigger, the sends created on the shop-local days from..to "
                           "(both included). A customer came back with a purchase within "
                           "`window_days` after being picked, for recipients and the holdout "
                           "alike. Needs an admin key (`loyalty-bot keys create --admin`).",
            "parameters": [
                {"name": name, "in": "query", "required": True,
                 "schema": {"type": "string", "format": "date"}, "description": "YYYY-MM-DD"}
                for name in ("from", "to")],
            "responses": {"200": _json(_ref("TriggerReport"), "The report."),
                          **_errors(401, 403, 422)},
        }},
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This description", "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
        }},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Loyalty POS API", "version": "1.0.0",
                 "description": "For till software. Send the outlet's key as "
                                "`Authorization: Bearer <key>`. Errors are "
                                "`{\"error\": code, \"message\": text}`. " + ROUNDING},
        "security": [{"apiKey": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
            "responses": {name: _json(_ref("Error"), text) for name, text in _ERRORS.values()},
        },
    }
