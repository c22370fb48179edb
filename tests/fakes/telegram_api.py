"""Fake Telegram Bot API server on aiohttp: records calls and answers like Telegram.

Serves ``{base}/bot{token}/{method}`` and ``{base}/file/bot{token}/{path}``, the URL
shape of ``aiogram.client.telegram.TelegramAPIServer.from_base(base_url)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

#: Parameters whose form values are JSON documents (decoded in ``Call.params``).
JSON_FIELDS = frozenset({
    "reply_markup", "entities", "caption_entities", "commands", "media", "allowed_updates",
    "scope", "link_preview_options", "reply_parameters", "results", "options", "prices",
    "menu_button", "rights", "permissions", "reaction", "explanation_entities",
})
BLOCKED = "Forbidden: bot was blocked by the user"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request", 401: "Unauthorized", 403: BLOCKED, 404: "Not Found",
    409: "Conflict", 429: "Too Many Requests: retry after 3", 500: "Internal Server Error",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Call:
    """One recorded API call; ``params`` has JSON fields decoded and files resolved. ``at``
    is the ``time.monotonic()`` of its arrival; ``via`` the path prefix the client put before
    ``/bot{token}`` (``api_base`` = ``{base_url}/{via}``): it tells several clients apart."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    at: float = 0.0
    via: str = ""


@dataclass
class _Failure:
    error_code: int
    description: str
    parameters: dict[str, Any] | None
    remaining: int


class ApiError(Exception):
    """Raised by a method handler to answer with an error payload."""

    def __init__(self, error_code: int, description: str,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.error_code, self.description, self.parameters = error_code, description, parameters


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def error_response(code: int, description: str,
                   parameters: dict[str, Any] | None = None) -> web.Response:
    """Telegram-shaped error body with the matching HTTP status."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _decode(key: str, value: Any) -> Any:
    if key in JSON_FIELDS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


async def parse_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Query string plus JSON, urlencoded or multipart body → (params, files)."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body and request.content_type == "application/json":
        params.update(await request.json() or {})
    elif request.can_read_body:
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(key, value.filename, value.content_type,
                                          value.file.read())
            else:
                params[key] = value
    raw = [v for v in params.values() if isinstance(v, str)]
    for key, value in list(params.items()):
        params[key] = _decode(key, value)
        if isinstance(value, str) and value.startswith("attach://") and \
                (upload := files.get(value.removeprefix("attach://"))) is not None:
            params[key] = files[key] = upload
    for key, upload in list(files.items()):  # parts sent under the parameter's own name
        if not any(f"attach://{key}" in value for value in raw):
            params.setdefault(key, upload)
    return params, files


class FakeBotAPI:
    """In-process Bot API double; use ``async with FakeBotAPI() as api``.

    With ``rate_limit`` (calls a second) it enforces Telegram's flood control on the
    ``send*`` methods: a call that would make more than ``rate_limit`` accepted calls in
    the last second, or that comes while an earlier 429's retry_after has not passed, is
    answered 429 and counted in ``limited``; ``accepted_at`` holds the ``time.monotonic()``
    of each accepted call.
    """

    def __init__(self, token: str = "123:ABC", *, username: str = "loyalty_test_bot",
                 first_name: str = "Loyalty Test Bot", max_poll_timeout: float = 1.0,
                 rate_limit: float | None = None) -> None:
        self.token, self.username, self.first_name = token, username, first_name
        self.max_poll_timeout = max_poll_timeout
        self.rate_limit = rate_limit
        self.limited = 0  # 429s the client caused (not the injected ones)
        self.accepted_at: list[float] = []
        self._window: deque[float] = deque()
        self._quiet_until = 0.0  # after a 429: nothing accepted before this
        self.calls: list[Call] = []
        self.webhook_url = ""
        self._updates: list[dict[str, Any]] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._blocked: set[str] = set()
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self._ids = itertools.count(1)
        self._file_seq = itertools.count(1)
        self._call_event = asyncio.Event()
        self._update_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Handler] = {
            "getme": self._get_me, "sendmessage": self._send_message,
            "sendphoto": self._send_photo, "senddocument": self._send_document,
            "editmessagetext": self._edit_message,
            "editmessagereplymarkup": self._edit_message, "deletemessage": self._true,
            "answercallbackquery": self._true, "setmycommands": self._true,
            "deletemycommands": self._true,
            "deletewebhook": self._set_webhook, "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info, "close": self._true,
            "logout": self._true, "getupdates": self._get_updates, "getfile": self._get_file,
        }

    # -- lifecycle ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._base_url is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._base_url

    @property
    def bot_id(self) -> int:
        return _as_int(self.token.split(":", 1)[0], 1)

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{via}/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        self._update_event.set()  # release long polls
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- test controls -----------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``count`` calls to ``method`` are recorded; return them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found := self.calls_to(method)) < count:
            self._call_event.clear()
            try:
                await asyncio.wait_for(self._call_event.wait(), deadline - loop.time())
            except TimeoutError:
                seen = [c.method for c in self.calls]
                raise TimeoutError(f"{count}x {method} not seen in {timeout}s; got {seen}") from None
        return found

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates``."""
        self._updates.append(update)
        self._update_event.set()

    def fail_next(self, method: str, error_code: int = 429, description: str | None = None,
                  parameters: dict[str, Any] | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls to ``method`` fail (429 defaults to retry_after=3)."""
        if parameters is None and error_code == 429:
            parameters = {"retry_after": 3}
        text = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Bad Request")
        failure = _Failure(error_code, text, parameters, times)
        self._failures.setdefault(method.lower(), []).append(failure)

    def block_chat(self, chat_id: int | str) -> None:
        """Every call with this ``chat_id`` answers 403 "bot was blocked by the user"."""
        self._blocked.add(str(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        self._blocked.discard(str(chat_id))

    def add_file(self, data: bytes, file_path: str) -> str:
        """Register downloadable content; returns its ``file_id``."""
        file_id = f"fake-file-{next(self._file_seq)}"
        self._files[file_id] = (file_path, data)
        return file_id

    # -- HTTP --------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        if request.match_info["token"] != self.token:
            return error_response(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await parse_request(request)
        self.calls.append(Call(method, params, files, arrived, request.match_info.get("via", "")))
        self._call_event.set()
        handler = self._handlers.get(method.lower())
        if handler is None:
            return error_response(404, "Not Found: method not found")
        if (failure := self._take_failure(method)) is not None:
            if self.rate_limit and failure.error_code == 429 and failure.parameters:
                self._quiet_until = time.monotonic() + failure.parameters.get("retry_after", 0)
            return error_response(failure.error_code, failure.description, failure.parameters)
        if self.rate_limit and method.lower().startswith("send") and \
                (wait := self._flood_wait()) is not None:
            self.limited += 1
            return error_response(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        if str(params.get("chat_id")) in self._blocked:
            return error_response(403, BLOCKED)
        try:
            result = await handler(params)
        except ApiError as e:
            return error_response(e.error_code, e.description, e.parameters)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return error_response(401, "Unauthorized")
        for path, data in self._files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data, content_type="application/octet-stream")
        return error_response(404, "Not Found")

    def _flood_wait(self) -> int | None:
        """None if a ``send*`` call may go now (and count it), else the seconds to wait."""
        assert self.rate_limit is not None
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if now < self._quiet_until:
            return max(1, math.ceil(self._quiet_until - now))
        if len(self._window) >= self.rate_limit:
            self._quiet_until = self._window[0] + 1.0
            return max(1, math.ceil(self._quiet_until - now))
        self._window.append(now)
        self.accepted_at.append(now)
        return None

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    # -- payload builders --------------------------------------------------
    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}

    @staticmethod
    def _chat(chat_id: Any) -> dict[str, Any]:
        cid = _as_int(chat_id, 0)
        if cid > 0:
            return {"id": cid, "type": "private", "first_name": "Ivan"}
        if cid < 0:
            return {"id": cid, "type": "supergroup", "title": "Test group"}
        return {"id": -1001000000001, "type": "channel", "title": "Test channel",
                "username": str(chat_id).lstrip("@")}

    def _message(self, params: dict[str, Any], message_id: int | None = None,
                 **content: Any) -> dict[str, Any]:
        message = {"message_id": message_id or next(self._ids), "date": int(time.time()),
                   "chat": self._chat(params.get("chat_id")), "from": self._bot_user()}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message | {k: v for k, v in content.items() if v is not None}

    # -- methods -----------------------------------------------------------
    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_user() | {"can_join_groups": True,
                                   "can_read_all_group_messages": False,
                                   "supports_inline_queries": False}

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, text=params.get("text", ""),
                             entities=params.get("entities"))

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        if isinstance(photo, UploadedFile):
            file_id = self.add_file(photo.data, f"photos/file_{len(self._files)}.jpg")
        else:
            file_id = str(photo)
        sizes = [{"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-us",
                  "width": 90, "height": 90},
                 {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                  "width": 800, "height": 800}]
        return self._message(params, photo=sizes, caption=params.get("caption"),
                             caption_entities=params.get("caption_entities"))

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        document = params.get("document")
        if not isinstance(document, UploadedFile):
            raise ApiError(400, "Bad Request: there is no document in the request")
        file_id = self.add_file(document.data, f"documents/{document.filename}")
        return self._message(params, caption=params.get("caption"), document={
            "file_id": file_id, "file_unique_id": f"u-{file_id}",
            "file_name": document.filename, "file_size": len(document.data)})

    async def _edit_message(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        message_id = _as_int(params.get("message_id"), 0)
        if message_id <= 0:
            raise ApiError(400, "Bad Request: message to edit not found")
        return self._message(params, message_id, text=params.get("text"),
                             edit_date=int(time.time()))

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))  # deleteWebhook sends no url
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(data), "file_path": path}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _as_int(params.get("offset"), 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll_timeout)
        if not self._updates and wait > 0:
            self._update_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_event.wait(), wait)
        return self._updates[: _as_int(params.get("limit"), 100)]


# -- update payload helpers -----------------------------------------------
def _user(user_id: int, first_name: str, language_code: str | None = "ru") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _private_message(message_id: int, user: dict[str, Any], **content: Any) -> dict[str, Any]:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    return {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": user,
            **content}


def message_update(update_id: int, user_id: int, text: str, first_name: str = "Ivan",
                   language_code: str = "ru") -> dict[str, Any]:
    """Private text message; a leading ``/command`` gets a bot_command entity."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    user = _user(user_id, first_name, language_code)
    return {"update_id": update_id, "message": _private_message(update_id, user, **content)}


def contact_update(update_id: int, user_id: int, phone: str, contact_user_id: int | None,
                   first_name: str = "Ivan") -> dict[str, Any]:
    """Private message sharing a contact (``contact_user_id`` = whose number it is)."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name}
    if contact_user_id is not None:
        contact["user_id"] = contact_user_id
    message = _private_message(update_id, _user(user_id, first_name), contact=contact)
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, user_id: int, data: str,
                    message_id: int = 1) -> dict[str, Any]:
    """Inline button press on bot message ``message_id`` in the private chat."""
    user = _user(user_id, "Ivan")
    message = _private_message(message_id, user, text="menu")
    message["from"] = {"id": 1, "is_bot": True, "first_name": "Bot"}
    return {"update_id": update_id, "callback_query": {
        "id": f"cb-{update_id}", "from": user, "chat_instance": f"ci-{user_id}",
        "data": data, "message": message}}


def sticker_update(update_id: int, user_id: int) -> dict[str, Any]:
    """Private message with a sticker (non-text input)."""
    sticker = {"file_id": f"sticker-{update_id}", "file_unique_id": f"us-{update_id}",
               "type": "regular", "width": 512, "height": 512, "is_animated": False,
               "is_video": False, "emoji": "👍"}
    message = _private_message(update_id, _user(user_id, "Ivan"), sticker=sticker)
    return {"update_id": update_id, "message": message}
