"""Google Wallet: the shop's loyalty class and each customer's loyalty object through the
Wallet REST API (``walletobjects/v1``), authorised by the shop's service account (an RS256
JWT exchanged for an access token at the key's ``token_uri``), and the «save» link
``https://pay.google.com/gp/v/save/<JWT>`` signed by the same key (``typ: savetowallet``).

The object is inserted once, when the customer first opens the Google link (downloads.py),
and patched when the card changes (updates.py). The class is written on a process's first
call: inserted, or patched to the config's name, logo and colour when it is there (a 409).
PyJWT with cryptography signs; httpx talks to Google; calls keep to ``requests_per_second``
(the API's quota is per project); a 429 or a 5xx is retried later by the outbox.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.channels.base import RetryLater
from bot.config import GoogleWalletSettings, Settings
from bot.delivery.outbox import TokenBucket
from bot.wallet.face import POINTS, TIER, CardFace

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
SAVE_URL = "https://pay.google.com/gp/v/save/"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_MARGIN = 300.0  # seconds before its expiry an access token is renewed
TIMEOUT = httpx.Timeout(15.0)


class GoogleWalletError(RuntimeError):
    """Google refused a call (the status and its message are in the text)."""


class ServiceAccount:
    """The service account's key file: who signs, with which key, where tokens come from."""

    def __init__(self, key_file: dict[str, Any]) -> None:
        key = serialization.load_pem_private_key(key_file["private_key"].encode(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("wallet.google.service_account_key: an RSA key is expected")
        self.key = key
        self.email: str = key_file["client_email"]
        self.key_id: str | None = key_file.get("private_key_id")
        self.token_uri: str = key_file.get("token_uri") or DEFAULT_TOKEN_URI

    def sign(self, claims: dict[str, Any]) -> str:
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)


class GoogleWallet:
    def __init__(self, settings: GoogleWalletSettings, shop: Settings) -> None:
        self.settings = settings
        self.shop = shop
        self.account = ServiceAccount(json.loads(settings.service_account_key.read_text()))
        self.class_id = f"{settings.issuer_id}.{settings.class_id}"
        self.client = httpx.AsyncClient(base_url=settings.api_base.rstrip("/"), timeout=TIMEOUT)
        self._pace = TokenBucket(settings.requests_per_second)
        self._token: tuple[str, float] | None = None  # access token, its expiry (monotonic)
        self._class_ready = False

    def object_id(self, serial: str) -> str:
        return f"{self.settings.issuer_id}.{serial}"

    # --- what the wallet asks -----------------------------------------------------------

    async def create(self, face: CardFace) -> None:
        """Insert the customer's loyalty object (the class first, if need be); one that is
        there already is brought up to date instead."""
        await self._ensure_class()
        response = await self._call("POST", "/loyaltyObject", self.loyalty_object(face))
        if response.status_code == 409:
            await self.update(face)
        else:
            _check(response)

    async def update(self, face: CardFace) -> None:
        """Patch the object to what the card shows now (inserted when Google has none)."""
        await self._ensure_class()
        body = self.loyalty_object(face)
        response = await self._call("PATCH", f"/loyaltyObject/{self.object_id(face.serial)}", body)
        if response.status_code == 404:
            await self.create(face)
        else:
            _check(response)

    async def forget(self, serial: str) -> None:
        """An erased customer's object emptied of what was theirs and expired (the API deletes
        no objects); none at Google is fine."""
        body = {"state": "EXPIRED", "accountName": "", "accountId": "", "textModulesData": [],
                "loyaltyPoints": {"label": "", "balance": {"int": 0}},
                "barcode": {"type": "QR_CODE", "value": self.shop.web.base_url(), "alternateText": ""}}
        response = await self._call("PATCH", f"/loyaltyObject/{self.object_id(serial)}", body)
        if response.status_code != 404:
            _check(response)

    def save_link(self, face: CardFace) -> str:
        """The «Add to Google Wallet» page of the customer's (inserted) object."""
        claims = {"iss": self.account.email, "aud": "google", "typ": "savetowallet",
                  "iat": int(time.time()),  # Google checks it against its own clock
                  "origins": [self.shop.web.base_url()],
                  "payload": {"loyaltyObjects": [{"id": self.object_id(face.serial)}]}}
        return SAVE_URL + self.account.sign(claims)

    # --- what Google is sent ------------------------------------------------------------

    def loyalty_class(self) -> dict[str, Any]:
        wallet = self.shop.wallet
        logo = self.settings.logo_url or f"{self.shop.web.base_url()}/wallet/logo.png"
        return {"id": self.class_id, "issuerName": self.shop.shop.name,
                "programName": self.shop.shop.name, "reviewStatus": "UNDER_REVIEW",
                "hexBackgroundColor": wallet.background_color,
                "programLogo": {"sourceUri": {"uri": logo}}}

    def loyalty_object(self, face: CardFace) -> dict[str, Any]:
        return {
            "id": self.object_id(face.serial), "classId": self.class_id, "state": "ACTIVE",
            "accountId": face.card_number.replace(" ", ""), "accountName": face.name,
            "loyaltyPoints": {"label": face.label(POINTS), "balance": {"int": face.balance}},
            "barcode": {"type": "QR_CODE", "value": face.barcode,
                        "alternateText": face.card_number},
            "textModulesData": [{"id": "tier", "header": face.label(TIER), "body": face.tier}],
            "hexBackgroundColor": self.shop.wallet.background_color,
        }

    # --- the API --------------------------------------------------------------------------

    async def _ensure_class(self) -> None:
        """The shop's class as the config describes it now, once a process: inserted, or
        patched when Google has it (a 409), so a new name, logo or colour reaches every card
        after the restart that brings it."""
        if self._class_ready:
            return
        response = await self._call("POST", "/loyaltyClass", self.loyalty_class())
        if response.status_code == 409:
            response = await self._call("PATCH", f"/loyaltyClass/{self.class_id}",
                                        self.loyalty_class())
        _check(response)
        self._class_ready = True

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """One API call within the pace, with a fresh access token (renewed once on a 401)."""
        for attempt in range(2):
            await asyncio.sleep(self._pace.reserve())
            headers = {"Authorization": f"Bearer {await self._access_token(renew=attempt > 0)}"}
            response = await self.client.request(method, path, json=body, headers=headers)
            if response.status_code != 401:
                break
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(_retry_after(response))
        return response

    async def _access_token(self, renew: bool = False) -> str:
        if self._token and not renew and time.monotonic() < self._token[1]:
            return self._token[0]
        issued = int(time.time())
        assertion = self.account.sign({"iss": self.account.email, "scope": SCOPE,
                                       "aud": self.account.token_uri,
                                       "iat": issued, "exp": issued + 3600})
        response = await self.client.post(self.account.token_uri, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
        _check(response)
        token, lifetime = _access_token_of(response)
        self._token = (token, time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN))
        return token

    async def close(self) -> None:
        await self.client.aclose()


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise GoogleWalletError(f"Google Wallet answered {response.status_code}: "
                                f"{response.text[:300]}")


def _access_token_of(response: httpx.Response) -> tuple[str, float]:
    """The access token and its lifetime in seconds from the token endpoint's answer."""
    try:
        answer = response.json()
        return str(answer["access_token"]), float(answer.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError, AttributeError):
        # its text is not quoted: it may hold a token after all
        raise GoogleWalletError("Google's token endpoint answered without a usable access token") from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "30")))
    except ValueError:
        return 30.0
