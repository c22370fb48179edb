"""Certificates and keys a wallet test makes for itself: a stand-in for Apple's WWDR
authority that issues the shop's pass type certificate and the fake push server's TLS
certificate, and a Google service account key. Nothing here is real or leaves 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.config import Settings, WalletSettings

PASS_TYPE_ID = "pass.test.coffee-point"
TEAM_ID = "TEAMID1234"
ISSUER_ID = "3388000000012345678"
SERVICE_ACCOUNT = "wallet@coffee-point.iam.gserviceaccount.com"
PUBLIC_URL = "https://shop.example"


def with_wallet(settings: Settings, **wallets: object) -> Settings:
    """The test's settings with these wallets (``apple=pki.apple(...)``, ``google=...``) and
    the public URL the wallet's links and web service need."""
    return settings.model_copy(update={
        "wallet": WalletSettings.model_validate(wallets),
        "web": settings.web.model_copy(update={"public_url": PUBLIC_URL})})


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name,
          issuer_key: rsa.RSAPrivateKey, *, ca: bool = False,
          extensions: tuple[x509.ExtensionType, ...] = ()) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common: str, **more: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if "uid" in more:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, more["uid"]))
    if "team" in more:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, more["team"]))
    return x509.Name(attributes)


@dataclass
class WalletPki:
    folder: Path
    ca: Path  # the stand-in WWDR certificate (also the TLS authority of the fake push server)
    pass_cert: Path
    pass_key: Path
    server_cert: Path
    server_key: Path
    google_key: Path
    google_public: rsa.RSAPublicKey

    @classmethod
    def make(cls, folder: Path, token_uri: str = "http://127.0.0.1:1/token") -> WalletPki:
        folder.mkdir(parents=True, exist_ok=True)
        ca_key = _key()
        ca_name = _name("Test Worldwide Developer Relations CA")
        ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
        pass_key = _key()
        pass_cert = _cert(_name(f"Pass Type ID: {PASS_TYPE_ID}", uid=PASS_TYPE_ID, team=TEAM_ID),
                          pass_key, ca_name, ca_key)
        server_key = _key()
        server_cert = _cert(_name("127.0.0.1"), server_key, ca_name, ca_key, extensions=(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),))
        google = _key()
        files = {
            "ca.pem": ca.public_bytes(serialization.Encoding.PEM),
            "pass.pem": pass_cert.public_bytes(serialization.Encoding.PEM),
            "pass.key": _pem(pass_key),
            "server.pem": server_cert.public_bytes(serialization.Encoding.PEM),
            "server.key": _pem(server_key),
        }
        for name, content in files.items():
            (folder / name).write_bytes(content)
        pki = cls(folder, folder / "ca.pem", folder / "pass.pem", folder / "pass.key",
                  folder / "server.pem", folder / "server.key", folder / "google.json",
                  google.public_key())
        pki.google_account(google, token_uri)
        return pki

    def google_account(self, key: rsa.RSAPrivateKey, token_uri: str) -> None:
        self.google_key.write_text(json.dumps({
            "type": "service_account", "project_id": "coffee-point",
            "private_key_id": "k1", "private_key": _pem(key).decode(),
            "client_email": SERVICE_ACCOUNT, "token_uri": token_uri}))

    def point_google_at(self, token_uri: str) -> None:
        """The key file's ``token_uri``: where the service account gets its access token."""
        data = json.loads(self.google_key.read_text())
        data["token_uri"] = token_uri
        self.google_key.write_text(json.dumps(data))

    def apple(self, push_url: str = "https://127.0.0.1:1") -> dict[str, object]:
        return {"pass_type_id": PASS_TYPE_ID, "team_id": TEAM_ID,
                "certificate": str(self.pass_cert), "key": str(self.pass_key),
                "wwdr_certificate": str(self.ca), "push_url": push_url,
                "push_ca_file": str(self.ca)}

    def google(self, api_base: str = "http://127.0.0.1:1/walletobjects/v1") -> dict[str, object]:
        return {"issuer_id": ISSUER_ID, "service_account_key": str(self.google_key),
                "api_base": api_base}
