"""A fake Google Wallet on aiohttp (127.0.0.1): the OAuth token endpoint, which checks the
service account's signed assertion with its public key, and the REST API's loyaltyClass /
loyaltyObject insert, patch and get, which check the bearer token and the shape of what
they are sent. Records every API call; a test can make the next calls fail."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.wallet_pki import ISSUER_ID, SERVICE_ACCOUNT

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class FakeGoogleWallet:
    public_key: rsa.RSAPublicKey
    calls: list[Call] = field(default_factory=list)
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: int = 0
    failures: list[int] = field(default_factory=list)  # statuses for the next API calls
    token_answer: str | None = None  # the token endpoint's body instead of a token (a broken one)
    base: str = ""
    _tokens: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    @property
    def api_base(self) -> str:
        return f"{self.base}/walletobjects/v1"

    async def start(self) -> FakeGoogleWallet:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/walletobjects/v1/{kind}", self._insert)
        app.router.add_patch("/walletobjects/v1/{kind}/{id}", self._patch)
        app.router.add_get("/walletobjects/v1/{kind}/{id}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]  # the port the system chose
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(str(form.get("assertion")), self.public_key, algorithms=["RS256"],
                                audience=self.token_uri)
        except jwt.InvalidTokenError as error:
            return web.json_response({"error": "invalid_grant", "detail": str(error)}, status=400)
        if claims.get("iss") != SERVICE_ACCOUNT or claims.get("scope") != SCOPE:
            return web.json_response({"error": "invalid_scope"}, status=400)
        if self.token_answer is not None:
            return web.Response(text=self.token_answer, content_type="application/json")
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _authorised(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            raise web.HTTPUnauthorized()

    async def _api(self, request: web.Request) -> dict[str, Any]:
        self._authorised(request)
        body = await request.json() if request.can_read_body else {}
        self.calls.append(Call(request.method, request.path, body))
        if self.failures:
            status = self.failures.pop(0)
            raise web.HTTPServiceUnavailable() if status >= 500 else web.HTTPTooManyRequests()
        return body

    def _store(self, kind: str) -> dict[str, dict[str, Any]]:
        if kind == "loyaltyClass":
            return self.classes
        if kind == "loyaltyObject":
            return self.objects
        raise web.HTTPNotFound()

    async def _insert(self, request: web.Request) -> web.Response:
        body = await self._api(request)
        kind = request.match_info["kind"]
        store = self._store(kind)
        check_shape(kind, body, self.classes)
        if body["id"] in store:
            return web.json_response({"error": {"code": 409, "message": "already exists"}}, status=409)
        store[body["id"]] = body
        return web.json_response(body)

    async def _patch(self, request: web.Request) -> web.Response:
        body = await self._api(request)
        store = self._store(request.match_info["kind"])
        found = store.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"code": 404, "message": "not found"}}, status=404)
        found.update(body)
        return web.json_response(found)

    async def _get(self, request: web.Request) -> web.Response:
        self._authorised(request)
        found = self._store(request.match_info["kind"]).get(request.match_info["id"])
        if found is None:
            raise web.HTTPNotFound()
        return web.json_response(found)


def check_shape(kind: str, body: dict[str, Any], classes: dict[str, Any]) -> None:
    """What the Wallet API would refuse with a 400."""
    problems = []
    if not str(body.get("id", "")).startswith(f"{ISSUER_ID}."):
        problems.append("id must start with the issuer id")
    if kind == "loyaltyClass":
        if not body.get("issuerName") or not body.get("programName"):
            problems.append("issuerName and programName are required")
        if not body.get("programLogo", {}).get("sourceUri", {}).get("uri"):
            problems.append("programLogo.sourceUri.uri is required")
        if body.get("reviewStatus") not in ("UNDER_REVIEW", "DRAFT", "APPROVED"):
            problems.append("reviewStatus")
    else:
        if body.get("classId") not in classes:
            problems.append("classId names no class")
        if body.get("state") != "ACTIVE":
            problems.append("state")
        if not isinstance(body.get("loyaltyPoints", {}).get("balance", {}).get("int"), int):
            problems.append("loyaltyPoints.balance.int must be an integer")
        if body.get("barcode", {}).get("type") != "QR_CODE" or not body["barcode"].get("value"):
            problems.append("barcode")
    if problems:
        raise web.HTTPBadRequest(text="; ".join(problems))
