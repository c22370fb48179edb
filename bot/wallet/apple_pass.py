"""The Apple Wallet pass: a .pkpass zip of pass.json, the pictures, manifest.json (the SHA-1
of every other file) and signature (a detached PKCS#7 signature of manifest.json by the
shop's pass type certificate, with Apple's WWDR certificate in the chain), made with the
``cryptography`` package. Each pass carries its own ``authenticationToken`` for the web
service (apple_service.py), derived from the installation secret and its serial."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from bot.config import AppleWalletSettings, WalletSettings
from bot.core.keys import derive, keyed_hash
from bot.wallet.face import CARD, NAME, POINTS, TIER, CardFace
from bot.wallet.images import logo, solid_png

MEDIA_TYPE = "application/vnd.apple.pkpass"


def rgb(colour: str) -> str:
    """``#1F2937`` as Apple writes colours: ``rgb(31, 41, 55)``."""
    red, green, blue = bytes.fromhex(colour.removeprefix("#"))
    return f"rgb({red}, {green}, {blue})"


@dataclass(frozen=True)
class PassSigner:
    """The shop's pass type certificate and key, and Apple's WWDR certificate."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    wwdr: x509.Certificate

    @classmethod
    def load(cls, settings: AppleWalletSettings) -> PassSigner:
        password = settings.key_password.get_secret_value().encode() if settings.key_password else None
        key = serialization.load_pem_private_key(settings.key.read_bytes(), password)
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError("wallet.apple.key: an RSA or EC private key is expected")
        return cls(x509.load_pem_x509_certificate(settings.certificate.read_bytes()), key,
                   x509.load_pem_x509_certificate(settings.wwdr_certificate.read_bytes()))

    def sign(self, manifest: bytes) -> bytes:
        return (pkcs7.PKCS7SignatureBuilder().set_data(manifest)
                .add_signer(self.certificate, self.key, hashes.SHA256())
                .add_certificate(self.wwdr)
                .sign(serialization.Encoding.DER,
                      [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))


class ApplePasses:
    """Builds a customer's .pkpass from their card's face."""

    def __init__(self, settings: AppleWalletSettings, wallet: WalletSettings, secret: bytes,
                 web_service_url: str) -> None:
        self.settings = settings
        self.wallet = wallet
        self.signer = PassSigner.load(settings)
        self.web_service_url = web_service_url.rstrip("/")
        self._auth_key = derive(secret, "wallet-apple-auth")
        self._pictures = self._make_pictures()

    def auth_token(self, serial: str) -> str:
        """The pass's own secret for the web service (Apple sends it back as ``ApplePass``)."""
        return keyed_hash(self._auth_key, serial)[:40]

    def pass_json(self, face: CardFace) -> dict[str, Any]:
        def field(key: str, label: str, value: object, change: str | None = None) -> dict[str, Any]:
            item = {"key": key, "label": face.label(label), "value": value}
            if change:
                item["changeMessage"] = change
            return item

        return {
            "formatVersion": 1,
            "passTypeIdentifier": self.settings.pass_type_id,
            "teamIdentifier": self.settings.team_id,
            "serialNumber": face.serial,
            "organizationName": face.shop,
            "description": face.description,
            "logoText": face.shop,
            "backgroundColor": rgb(self.wallet.background_color),
            "foregroundColor": rgb(self.wallet.foreground_color),
            "labelColor": rgb(self.wallet.label_color),
            "webServiceURL": self.web_service_url,
            "authenticationToken": self.auth_token(face.serial),
            "barcodes": [{"format": "PKBarcodeFormatQR", "message": face.barcode,
                          "messageEncoding": "iso-8859-1", "altText": face.card_number}],
            "storeCard": {
                "headerFields": [field("balance", POINTS, face.balance,
                                       face.t.gettext("Your balance: %@ points"))],
                "primaryFields": [field("name", NAME, face.name)],
                "secondaryFields": [field("tier", TIER, face.tier,
                                          face.t.gettext("Your tier: %@"))],
                "auxiliaryFields": [field("card", CARD, face.card_number)],
                "backFields": [field("about", face.shop, face.t.gettext(
                    "Show the code at the checkout, or say the card number. The chat with the "
                    "bot has your history, rewards and settings."))],
            },
        }

    def build(self, face: CardFace) -> bytes:
        """The signed .pkpass."""
        files = {"pass.json": json.dumps(self.pass_json(face), ensure_ascii=False).encode(),
                 **self._pictures}
        manifest = json.dumps({name: hashlib.sha1(content).hexdigest()  # Apple's manifest is SHA-1
                               for name, content in files.items()}, sort_keys=True).encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
            archive.writestr("manifest.json", manifest)
            archive.writestr("signature", self.signer.sign(manifest))
        return buffer.getvalue()

    def _make_pictures(self) -> dict[str, bytes]:
        colour = self.wallet.background_color
        return {"icon.png": solid_png(29, colour), "icon@2x.png": solid_png(58, colour),
                "logo.png": logo(self.wallet.logo, colour, 50)}
