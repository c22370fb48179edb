"""Fake WhatsApp Cloud (Graph) API on aiohttp, and webhook payloads shaped like Meta's.

Serves ``{base}/v{version}/{phone_id}/messages`` and ``.../media`` (the URL shape pywa uses
under its base URL), plus media URLs and downloads; records every request; answers a queued
Graph error (``fail_next(131047)``) instead of the next message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"


@dataclass(frozen=True)
class Sent:
    """One POST to /messages: its JSON body."""

    body: dict[str, Any]

    @property
    def to(self) -> str:
        return self.body.get("to") or self.body.get("recipient") or ""

    @property
    def type(self) -> str:
        return self.body["type"]

    @property
    def text(self) -> str:
        """The text a person reads: a text's body, an interactive's body, a caption."""
        match self.type:
            case "text":
                return self.body["text"]["body"]
            case "interactive":
                return self.body["interactive"]["body"]["text"]
            case "image" | "document":
                return self.body[self.type].get("caption", "")
        return ""

    @property
    def interactive_type(self) -> str | None:
        return self.body["interactive"]["type"] if self.type == "interactive" else None

    @property
    def payloads(self) -> list[str]:
        """The ids of its reply buttons or list rows."""
        if self.type != "interactive":
            return []
        action = self.body["interactive"]["action"]
        if "buttons" in action:
            return [b["reply"]["id"] for b in action["buttons"]]
        return [row["id"] for section in action.get("sections", []) for row in section["rows"]]


@dataclass(frozen=True)
class Upload:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class FakeGraphAPI:
    phone_id: str = PHONE_ID
    sent: list[Sent] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    _failures: list[tuple[int, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    base_url: str = ""

    async def __aenter__(self) -> FakeGraphAPI:
        app = web.Application()
        app.router.add_post("/{version}/{phone_id}/messages", self._message)
        app.router.add_post("/{version}/{phone_id}/media", self._media)
        app.router.add_get("/{version}/{media_id}", self._media_url)
        app.router.add_get("/files/{media_id}", self._file)
        self._changed = asyncio.Condition()
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, code: int, message: str = "error") -> None:
        """The next message is answered with this Graph error."""
        self._failures.append((code, message))

    def to(self, recipient: str) -> list[Sent]:
        return [s for s in self.sent if s.to == recipient]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Sent]:
        """Until ``count`` messages were sent in all; returns them."""
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent) >= count), timeout)
        return self.sent[:count]

    async def _recorded(self, sent: Sent) -> None:
        assert self._changed is not None
        async with self._changed:
            self.sent.append(sent)
            self._changed.notify_all()

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.match_info["phone_id"] != self.phone_id:
            return graph_error(100, "Unsupported post request", status=400)
        if self._failures:
            code, message = self._failures.pop(0)
            return graph_error(code, message, status=429 if code in (4, 80007, 130429) else 400)
        await self._recorded(Sent(body))
        recipient = body.get("to") or body.get("recipient")
        contact = {"input": recipient, "wa_id" if str(recipient).isdigit() else "user_id": recipient}
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": f"wamid.{next(self._ids)}"}]})

    async def _media(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        self.uploads.append(Upload(upload.filename, upload.content_type, upload.file.read()))
        return web.json_response({"id": str(next(self._ids))})

    async def _media_url(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        return web.json_response({"url": f"{self.base_url}/files/{media_id}", "mime_type": "image/jpeg",
                                  "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
                                  "file_size": 3, "id": media_id, "messaging_product": "whatsapp"})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8" + request.match_info["media_id"].encode(),
                            content_type="image/jpeg")


def graph_error(code: int, message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                        "error_data": {"details": message},
                                        "fbtrace_id": "AbCdEf"}}, status=status)


# --- webhook payloads (what Meta posts) -------------------------------------------------------

_message_ids = itertools.count(1)


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def payload(wa_id: str | None, message: dict[str, Any], *, name: str = "Ivan Petrov",
            user_id: str | None = None, phone_id: str = PHONE_ID) -> bytes:
    """One message from ``wa_id`` (a number, or None when hidden behind a username) and/or
    ``user_id`` (a business-scoped user id), as the Cloud API posts it."""
    contact: dict[str, Any] = {"profile": {"name": name}}
    sender: dict[str, Any] = {}
    if wa_id:
        contact["wa_id"] = sender["from"] = wa_id
    if user_id:
        contact["user_id"] = sender["from_user_id"] = user_id
    message = {"id": f"wamid.in{next(_message_ids)}", "timestamp": "1772442000", **sender, **message}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_id},
            "contacts": [contact], "messages": [message]}}]}]}).encode()


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def button_reply(payload_id: str, title: str = "") -> dict[str, Any]:
    return {"type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": payload_id, "title": title}}}


def list_reply(payload_id: str, title: str = "") -> dict[str, Any]:
    return {"type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": payload_id, "title": title}}}


def contact_card(phone: str, origin: str | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"name": {"formatted_name": "Someone", "first_name": "Someone"},
                            "phones": [{"phone": "+" + phone, "wa_id": phone, "type": "CELL"}]}
    message: dict[str, Any] = {"type": "contacts", "contacts": [card]}
    if origin:
        message["origin"] = origin
    return message


def sticker() -> dict[str, Any]:
    return {"type": "sticker", "sticker": {"id": "555", "mime_type": "image/webp", "animated": False}}


def failed_status(wamid: str, code: int, title: str, phone_id: str = PHONE_ID) -> bytes:
    """WhatsApp's later report that a message it accepted was not delivered."""
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_id},
            "statuses": [{"id": wamid, "status": "failed", "timestamp": "1772442000",
                          "recipient_id": "79001234567",
                          "errors": [{"code": code, "title": title}]}]}}]}]}).encode()
