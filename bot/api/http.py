"""The API's HTTP conventions: every answer under /api is JSON, errors are
``{"error": code, "message": text}`` with a fitting status, and never a stack trace."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


class ApiError(Exception):
    """A refused request; ``extra`` fields go into the JSON body next to the code."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers = headers

    def response(self) -> web.Response:
        response = error_response(self.status, self.code, self.message, **self.extra)
        response.headers.update(self.headers or {})
        return response


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def invalid(code: str, message: str, **extra: Any) -> ApiError:
    return ApiError(422, code, message, **extra)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api: refusals as JSON, unexpected failures as a logged 500 without details."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:  # no route (404), wrong method (405), too large (413)
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        response = error_response(error.status, code, error.reason, **_allowed(error))
        if isinstance(error, web.HTTPMethodNotAllowed):  # what a 405 must name
            response.headers["Allow"] = ", ".join(sorted(error.allowed_methods))
        return response
    except Exception:
        log.exception("POS API request %s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "unexpected error; it has been logged")


def _allowed(error: web.HTTPException) -> dict[str, Any]:
    if isinstance(error, web.HTTPMethodNotAllowed):
        return {"allowed": sorted(error.allowed_methods)}
    return {}


def json_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """A request body as a JSON object (``{}`` for an empty body when ``empty_ok``)."""
    if not raw.strip() and empty_ok:
        return {}
    try:
        body = json.loads(raw)
    # ValueError: not UTF-8, not JSON, or a number of more digits than Python converts
    # (4300); RecursionError: nested too deep
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body
