"""Fake Viber REST bot API on aiohttp (127.0.0.1): records requests and answers like Viber
(HTTP 200 with a ``status`` in the body), plus builders of the webhook callbacks Viber
sends, for posting to the app.

Serves ``{base_url}/set_webhook``, ``/send_message`` and ``/get_account_info``. The token is
taken from the ``X-Viber-Auth-Token`` header or an ``auth_token`` body field (viberbot's
own sender puts it there); a wrong one gets status 2.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

STATUS_MESSAGES = {0: "ok", 2: "invalidAuthToken", 5: "receiverNotRegistered",
                   6: "receiverNotSubscribed", 12: "tooManyRequests", 13: "apiVersionNotSupported"}


@dataclass(frozen=True)
class Request:
    endpoint: str
    payload: dict[str, Any]


class FakeViberAPI:
    def __init__(self, token: str, *, uri: str = "coffeepoint") -> None:
        self.token, self.uri = token, uri
        self.requests: list[Request] = []
        self.webhook_url = ""
        self.unsubscribed: set[str] = set()  # receivers answered with status 6
        self._failures: dict[str, list[int]] = {}
        self._tokens = itertools.count(5_000_000_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeViberAPI:
        app = web.Application()
        app.router.add_post("/pa/{endpoint}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/pa"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, endpoint: str, *statuses: int) -> None:
        """Answer the next calls to ``endpoint`` with these statuses, one each."""
        self._failures.setdefault(endpoint, []).extend(statuses)

    def sent(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """The accepted messages, to one receiver or to all."""
        return [r.payload for r in self.requests if r.endpoint == "send_message"
                and r.payload.get("accepted") and (receiver is None or r.payload["receiver"] == receiver)]

    async def wait_sent(self, receiver: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent(receiver)) >= count),
                                   timeout)
        return self.sent(receiver)

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        payload = await request.json()
        token = request.headers.get("X-Viber-Auth-Token") or payload.get("auth_token")
        status = self._status(endpoint, token, payload)
        body: dict[str, Any] = {"status": status, "status_message": STATUS_MESSAGES.get(status, "error")}
        if status == 0:
            body.update(self._answer(endpoint, payload))
        payload = {**payload, "accepted": status == 0}
        async with self._changed:
            self.requests.append(Request(endpoint, payload))
            self._changed.notify_all()
        return web.json_response(body)

    def _status(self, endpoint: str, token: str | None, payload: dict[str, Any]) -> int:
        if token != self.token:
            return 2
        if self._failures.get(endpoint):
            return self._failures[endpoint].pop(0)
        if endpoint == "send_message" and payload.get("receiver") in self.unsubscribed:
            return 6
        return 0

    def _answer(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        if endpoint == "send_message":
            return {"message_token": next(self._tokens)}
        if endpoint == "set_webhook":
            self.webhook_url = payload["url"]
            return {"event_types": payload.get("event_types", [])}
        if endpoint == "get_account_info":
            return {"id": "pa:1", "name": "Coffee Point", "uri": self.uri, "subscribers_count": 0}
        return {}


# --- callbacks Viber posts to the webhook -----------------------------------------------------

_tokens = itertools.count(1)
TIMESTAMP = 1772442000000


def user(user_id: str, name: str = "Ivan Petrov", language: str = "ru") -> dict[str, Any]:
    return {"id": user_id, "name": name, "avatar": "https://avatar.example/a.jpg",
            "language": language, "country": "RU", "api_version": 10}


def conversation_started(user_id: str, context: str | None = None, **profile: Any) -> dict[str, Any]:
    event = {"event": "conversation_started", "timestamp": TIMESTAMP,
             "message_token": next(_tokens), "type": "open", "user": user(user_id, **profile),
             "subscribed": False}
    if context is not None:
        event["context"] = context
    return event


def message(user_id: str, body: dict[str, Any], **profile: Any) -> dict[str, Any]:
    return {"event": "message", "timestamp": TIMESTAMP, "message_token": next(_tokens),
            "sender": user(user_id, **profile), "message": body}


def text(user_id: str, value: str, **profile: Any) -> dict[str, Any]:
    return message(user_id, {"type": "text", "text": value}, **profile)


def contact(user_id: str, phone: str, **profile: Any) -> dict[str, Any]:
    return message(user_id, {"type": "contact",
                             "contact": {"name": "Ivan", "phone_number": phone}}, **profile)


def unsubscribed(user_id: str) -> dict[str, Any]:
    return {"event": "unsubscribed", "timestamp": TIMESTAMP, "user_id": user_id,
            "message_token": next(_tokens)}
