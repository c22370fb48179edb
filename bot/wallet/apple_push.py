"""The push that tells a device its pass changed: Apple's push service (APNs) over HTTP/2,
authenticated by the pass type certificate itself (TLS client certificate), an empty
payload ``{}`` and the pass type id as the topic. httpx with h2 is the client."""

from __future__ import annotations

import logging
import ssl
from enum import Enum

import httpx

from bot.config import AppleWalletSettings

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0)


class Pushed(Enum):
    SENT = "sent"
    GONE = "gone"  # the token no longer names a device with the pass: forget it
    LATER = "later"  # APNs asks to slow down or is unavailable: try again later
    REFUSED = "refused"  # waiting won't mend it (the certificate, the topic): a failed attempt


class ApplePush:
    def __init__(self, settings: AppleWalletSettings) -> None:
        context = ssl.create_default_context(
            cafile=str(settings.push_ca_file) if settings.push_ca_file else None)
        password = settings.key_password.get_secret_value() if settings.key_password else None
        context.load_cert_chain(settings.certificate, settings.key, password)
        self.topic = settings.pass_type_id
        self.client = httpx.AsyncClient(base_url=settings.push_url.rstrip("/"), http2=True,
                                        verify=context, timeout=TIMEOUT)

    async def push(self, token: str) -> Pushed:
        """One device's push; network errors are raised (the outbox tries again)."""
        response = await self.client.post(f"/3/device/{token}", content=b"{}",
                                          headers={"apns-topic": self.topic})
        if response.status_code == 200:
            return Pushed.SENT
        reason = _reason(response)
        if response.status_code == 410 or reason in ("BadDeviceToken", "Unregistered"):
            return Pushed.GONE
        if response.status_code in (429, 500, 503):
            return Pushed.LATER
        log.error("APNs refused a wallet push (%s %s): check wallet.apple's certificate and "
                  "pass_type_id", response.status_code, reason)
        return Pushed.REFUSED

    async def close(self) -> None:
        await self.client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except ValueError:
        return ""
