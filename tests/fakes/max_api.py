"""Fake MAX Bot API on aiohttp (127.0.0.1): checks the request shapes the platform documents
(dev.max.ru/docs-api, github.com/max-messenger/max-bot-api-client-ts) and records what was
sent, plus builders of the updates MAX delivers.

What it holds the client to:
- the token only in the ``Authorization`` header (a missing or wrong one, or an
  ``access_token`` query parameter, which MAX no longer takes: 401 ``verify.token``);
- ``GET /me``; ``PATCH /me/commands`` (at most 32, each with a ``name``); ``GET /updates``
  with ``marker``, ``timeout`` (0–90) and ``types``;
  ``GET``/``POST``/``DELETE /subscriptions`` (a ``url`` and a ``secret`` of 5–256 characters
  from A–Z a–z 0–9 -); ``POST /messages?user_id=`` and ``PUT /messages?message_id=`` with a
  JSON body of ``text`` (at most 4000 characters) and ``attachments`` (``inline_keyboard``
  with ``callback``/``link``/``request_contact`` buttons, ``image``/``file`` by a token
  this server issued); ``POST /uploads?type=image|file`` naming an upload URL, where the
  bytes go as the multipart field ``data``.
A request that breaks a rule is answered 400 and kept in ``refused``: a test that expects
none asserts it is empty.

Errors as MAX answers them: ``{"code": ..., "message": ...}`` with the HTTP status; a
blocked user: 403 ``chat.denied`` / ``error.dialog.suspended``; too many requests: 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

BUTTONS = {"callback": ("text", "payload"), "link": ("text", "url"), "request_contact": ("text",)}
SECRET = re.compile(r"[A-Za-z0-9-]{5,256}")
UPDATE_TYPES = {"bot_started", "bot_stopped", "message_created", "message_callback",
                "message_edited", "message_removed", "bot_added", "bot_removed"}
LONG_POLL_CAP = 0.5  # seconds a poll here waits at most, whatever ``timeout`` asks


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class Upload:
    kind: str
    filename: str
    data: bytes
    token: str


@dataclass
class Sent:
    """A message as MAX holds it; ``edits`` are its texts after each accepted edit."""

    mid: str
    user_id: str
    text: str
    attachments: list[dict[str, Any]]
    edits: list[str] = field(default_factory=list)

    def buttons(self) -> list[dict[str, Any]]:
        return [b for a in self.attachments if a["type"] == "inline_keyboard"
                for row in a["payload"]["buttons"] for b in row]

    def payloads(self) -> list[str]:
        return [b["payload"] for b in self.buttons() if b["type"] == "callback"]

    def kinds(self) -> list[str]:
        return [a["type"] for a in self.attachments]


class FakeMaxAPI:
    def __init__(self, token: str, *, username: str = "coffee_point_bot",
                 tls: ssl.SSLContext | None = None) -> None:
        self.token, self.username, self._tls = token, username, tls
        self.requests: list[Request] = []
        self.refused: list[tuple[Request, str]] = []  # broken rules, with the reason
        self.messages: list[Sent] = []
        self.uploads: list[Upload] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []  # the bot's command menu
        self.blocked: set[str] = set()
        self.images: dict[str, bytes] = {}  # pictures people sent, served at {base_url}/i/<name>
        self.not_ready_once = False  # the first message with a new upload: attachment.not.ready
        self._failures: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._tokens: dict[str, Upload | None] = {}  # issued upload URLs' ids → their upload
        self._ready: set[str] = set()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeMaxAPI:
        app = web.Application()
        app.router.add_route("*", "/upload/{id}", self._upload)
        app.router.add_get("/i/{name}", self._image)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls)
        await site.start()
        port = self._runner.addresses[0][1]  # the port the system chose
        self.base_url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests set up and read -----------------------------------------------------------

    def fail(self, method: str, path: str, status: int, code: str, message: str = "",
             times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method path`` with this error."""
        self._failures.setdefault((method, path), []).extend([(status, code, message)] * times)

    def push(self, *updates: dict[str, Any]) -> None:
        """Updates for the next ``GET /updates``."""
        self._updates.extend(updates)
        asyncio.get_running_loop().create_task(self._notify())

    def sent(self, user_id: str | None = None) -> list[Sent]:
        return [m for m in self.messages if user_id is None or m.user_id == str(user_id)]

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    async def wait_sent(self, user_id: str, count: int, timeout: float = 5.0) -> list[Sent]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: len(self.sent(user_id)) >= count), timeout)
        return self.sent(user_id)

    async def wait_for(self, method: str, path: str, count: int = 1,
                       timeout: float = 5.0) -> list[Request]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: len(self.calls(method, path)) >= count), timeout)
        return self.calls(method, path)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.json() if request.can_read_body else None
        record = Request(request.method, path, dict(request.query), body)
        try:
            self._authorized(request)
            failure = self._failures.get((request.method, path))
            if failure:
                raise Refused(*failure.pop(0))
            answer = await self._answer(request, record)
        except Refused as refused:
            record.status = refused.status
            if refused.status == 400:
                self.refused.append((record, refused.message))
            answer = None
            response = web.json_response({"code": refused.code, "message": refused.message},
                                         status=refused.status)
        else:
            response = web.json_response(answer)
        async with self._changed:
            self.requests.append(record)
            self._changed.notify_all()
        return response

    def _authorized(self, request: web.Request) -> None:
        if "access_token" in request.query:
            raise Refused(401, "verify.token", "access_token in the query is not supported")
        if request.headers.get("Authorization") != self.token:
            raise Refused(401, "verify.token", "Invalid access_token")

    async def _answer(self, request: web.Request, record: Request) -> dict[str, Any]:
        match request.method, record.path:
            case "GET", "/me":
                return {"user_id": 900, "first_name": "Coffee Point", "username": self.username,
                        "is_bot": True, "last_activity_time": 0}
            case "PATCH", "/me/commands":
                return self._set_commands(record.body)
            case "GET", "/updates":
                return await self._poll(record.query)
            case "GET", "/subscriptions":
                return {"subscriptions": self.subscriptions}
            case "POST", "/subscriptions":
                return self._subscribe(record.body)
            case "DELETE", "/subscriptions":
                url = record.query.get("url")
                self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
                return {"success": True}
            case "POST", "/uploads":
                return self._upload_url(request, record.query)
            case "POST", "/messages":
                return self._send(record.query, record.body)
            case "PUT", "/messages":
                return self._edit(record.query, record.body)
        raise Refused(404, "not.found", f"{request.method} {record.path}")

    def _set_commands(self, body: Any) -> dict[str, Any]:
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list) or len(commands) > 32 or \
                not all(isinstance(c, dict) and c.get("name") for c in commands):
            raise Refused(400, "proto.payload", "commands: at most 32, each with a name")
        self.commands = commands
        return {"user_id": 900, "username": self.username, "is_bot": True, "commands": commands}

    async def _poll(self, query: dict[str, str]) -> dict[str, Any]:
        timeout = int(query.get("timeout", "30"))
        if not 0 <= timeout <= 90:
            raise Refused(400, "proto.payload", "timeout must be 0..90")
        types = set(query.get("types", "").split(",")) - {""}
        if types - UPDATE_TYPES:
            raise Refused(400, "proto.payload", f"unknown types {types - UPDATE_TYPES}")
        marker = int(query.get("marker", "0"))
        async with self._changed:
            with contextlib.suppress(TimeoutError):  # a long poll that found nothing
                await asyncio.wait_for(self._changed.wait_for(lambda: len(self._updates) > marker),
                                       min(timeout, LONG_POLL_CAP))
        updates = [u for u in self._updates[marker:] if not types or u["update_type"] in types]
        return {"updates": updates, "marker": len(self._updates)}

    def _subscribe(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not str(body.get("url", "")).startswith("http"):
            raise Refused(400, "proto.payload", "url is required")
        if "secret" in body and not SECRET.fullmatch(str(body["secret"])):
            raise Refused(400, "proto.payload", "secret: 5-256 characters A-Z a-z 0-9 -")
        self.subscriptions = [s for s in self.subscriptions if s["url"] != body["url"]]
        self.subscriptions.append({"url": body["url"], "time": 0, "secret": body.get("secret"),
                                   "update_types": body.get("update_types")})
        return {"success": True}

    def _upload_url(self, request: web.Request, query: dict[str, str]) -> dict[str, Any]:
        kind = query.get("type")
        if kind not in ("image", "file", "video", "audio"):
            raise Refused(400, "proto.payload", "type: image, video, audio or file")
        upload_id = str(next(self._ids))
        self._tokens[upload_id] = None
        return {"url": f"{self.base_url}/upload/{upload_id}?type={kind}&sig=s{upload_id}"}

    async def _image(self, request: web.Request) -> web.Response:
        """A picture in a person's message, from MAX's media host (no token needed)."""
        image = self.images.get(request.match_info["name"])
        if image is None:
            raise web.HTTPNotFound()
        return web.Response(body=image, content_type="image/jpeg")

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload host: no Authorization here, the URL itself is signed."""
        upload_id, kind = request.match_info["id"], request.query.get("type", "")
        if upload_id not in self._tokens or self._tokens[upload_id] is not None:
            return web.json_response({"code": "upload.url", "message": "unknown url"}, status=400)
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "data":
            record = Request("POST", "/upload", dict(request.query), None, 400)
            self.refused.append((record, "the bytes go as the form field data"))
            return web.json_response({"code": "proto.payload", "message": "no data"}, status=400)
        data = await part.read()  # type: ignore[union-attr]
        token = f"{kind}-token-{upload_id}"
        upload = Upload(kind, part.filename or "", bytes(data), token)  # type: ignore[union-attr]
        self._tokens[upload_id] = upload
        self.uploads.append(upload)
        if kind == "image":
            return web.json_response({"photos": {f"p{upload_id}": {"token": token}}})
        return web.json_response({"token": token})

    def _issued(self, token: str) -> bool:
        return any(u is not None and u.token == token for u in self._tokens.values())

    def _check_body(self, body: Any) -> tuple[str, list[dict[str, Any]]]:
        if not isinstance(body, dict):
            raise Refused(400, "proto.payload", "a JSON body is required")
        text, attachments = body.get("text") or "", body.get("attachments") or []
        if not isinstance(text, str) or len(text) > 4000:
            raise Refused(400, "proto.payload", "text: a string of at most 4000 characters")
        for attachment in attachments:
            self._check_attachment(attachment)
        if not text and not attachments:
            raise Refused(400, "proto.payload", "an empty message")
        return text, attachments

    def _check_attachment(self, attachment: dict[str, Any]) -> None:
        kind, payload = attachment.get("type"), attachment.get("payload") or {}
        if kind == "inline_keyboard":
            for row in payload.get("buttons", []):
                for button in row:
                    needs = BUTTONS.get(button.get("type"))
                    if needs is None or any(not button.get(key) for key in needs):
                        raise Refused(400, "proto.payload", f"bad button {button}")
                    if len(button["text"]) > 128:
                        raise Refused(400, "proto.payload", "button text over 128 characters")
        elif kind in ("image", "file"):
            if not self._issued(str(payload.get("token", ""))):
                raise Refused(400, "proto.payload", f"{kind}: a token from an upload is required")
        else:
            raise Refused(400, "proto.payload", f"attachment type {kind!r} not expected here")

    def _send(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        user_id = query.get("user_id")
        if not user_id or not user_id.isdecimal():
            raise Refused(400, "proto.payload", "user_id (a number) is required")
        text, attachments = self._check_body(body)
        if user_id in self.blocked:
            raise Refused(403, "chat.denied", f"Key: error.dialog.suspended, args: [{user_id},].")
        tokens = [a["payload"]["token"] for a in attachments if a["type"] in ("image", "file")]
        if self.not_ready_once and any(t not in self._ready for t in tokens):
            self._ready.update(tokens)
            raise Refused(400, "attachment.not.ready", "Key: errors.process.attachment.file.not.processed")
        sent = Sent(f"mid.{next(self._ids):016x}", user_id, text, attachments)
        self.messages.append(sent)
        return {"message": {"sender": {"user_id": 900, "is_bot": True},
                            "recipient": {"user_id": int(user_id), "chat_type": "dialog"},
                            "timestamp": 0, "body": {"mid": sent.mid, "seq": 1, "text": text}}}

    def _edit(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        message = next((m for m in self.messages if m.mid == query.get("message_id")), None)
        if message is None:
            raise Refused(404, "not.found", "message not found")
        text, attachments = self._check_body(body)
        message.text, message.attachments = text, attachments
        message.edits.append(text)
        return {"success": True}


# --- updates MAX delivers --------------------------------------------------------------------------

_stamps = itertools.count(1772442000000)
_mids = itertools.count(1)


def user(user_id: str, first_name: str = "Ivan", last_name: str = "Petrov") -> dict[str, Any]:
    return {"user_id": int(user_id), "first_name": first_name, "last_name": last_name,
            "name": f"{first_name} {last_name}", "username": None, "is_bot": False,
            "last_activity_time": 1772442000000}


def bot_started(user_id: str, payload: str | None = None, locale: str = "ru",
                **profile: Any) -> dict[str, Any]:
    update = {"update_type": "bot_started", "timestamp": next(_stamps), "chat_id": 10 + int(user_id),
              "user": user(user_id, **profile), "user_locale": locale}
    if payload is not None:
        update["payload"] = payload
    return update


def bot_stopped(user_id: str) -> dict[str, Any]:
    return {"update_type": "bot_stopped", "timestamp": next(_stamps), "chat_id": 10 + int(user_id),
            "user": user(user_id)}


def message(user_id: str, text: str | None = None, attachments: list[dict[str, Any]] | None = None,
            locale: str = "ru", chat_type: str = "dialog", **profile: Any) -> dict[str, Any]:
    return {"update_type": "message_created", "timestamp": next(_stamps), "user_locale": locale,
            "message": {"sender": user(user_id, **profile),
                        "recipient": {"chat_id": 10 + int(user_id), "chat_type": chat_type},
                        "timestamp": next(_stamps),
                        "body": {"mid": f"mid.in{next(_mids):012d}", "seq": 1, "text": text,
                                 "attachments": attachments}}}


def vcf(phone: str, name: str = "Ivan Petrov") -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL;TYPE=cell:{phone}\r\nEND:VCARD\r\n"


def contact(user_id: str, phone: str, owner: str | None, **kw: Any) -> dict[str, Any]:
    """A shared contact; ``owner`` is the MAX user it is (the sender, for the request_contact
    button), None for a contact of someone not on MAX."""
    payload: dict[str, Any] = {"vcf_info": vcf(phone)}
    if owner is not None:
        payload["max_info"] = user(owner, first_name="Someone")
    return message(user_id, None, [{"type": "contact", "payload": payload}], **kw)


def image(user_id: str, url: str, caption: str = "") -> dict[str, Any]:
    return message(user_id, caption, [{"type": "image", "payload": {
        "photo_id": 1, "token": "in-token", "url": url}}])


def callback(user_id: str, payload: str, locale: str = "ru") -> dict[str, Any]:
    return {"update_type": "message_callback", "timestamp": next(_stamps), "user_locale": locale,
            "callback": {"timestamp": next(_stamps), "callback_id": f"cb.{next(_mids):020d}",
                         "payload": payload, "user": user(user_id)},
            "message": None}
