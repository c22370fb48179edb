"""A fake Apple push service on 127.0.0.1: HTTP/2 over TLS (ALPN h2) with its certificate
from the test's authority, and a client certificate required, as APNs requires the pass type
certificate. It records every push and answers 200, or what a test set for a token."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events

from tests.support.wallet_pki import WalletPki


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes
    client_subject: dict[str, str]

    @property
    def token(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class FakeApns:
    pki: WalletPki
    pushes: list[Push] = field(default_factory=list)
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)  # token -> (status, reason)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> FakeApns:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki.ca))
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        subject = {key: value for rdn in peer.get("subject", ()) for key, value in rdn}
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        connection = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        streams: dict[int, dict[str, Any]] = {}
        try:
            while data := await reader.read(65535):
                for event in connection.receive_data(data):
                    self._on(connection, event, streams, subject)
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def _on(self, connection: h2.connection.H2Connection, event: h2.events.Event,
            streams: dict[int, dict[str, Any]], subject: dict[str, str]) -> None:
        if isinstance(event, h2.events.RequestReceived):
            streams[event.stream_id] = {"headers": dict(event.headers), "body": b""}
        elif isinstance(event, h2.events.DataReceived):
            streams[event.stream_id]["body"] += event.data
            connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream = streams.pop(event.stream_id)
            headers = stream["headers"]
            push = Push(headers[":path"], headers, stream["body"], subject)
            self.pushes.append(push)
            status, reason = self.answers.get(push.token, (200, ""))
            body = json.dumps({"reason": reason}).encode() if reason else b""
            connection.send_headers(event.stream_id, [
                (":status", str(status)), ("apns-id", str(uuid.uuid4())),
                ("content-length", str(len(body)))], end_stream=not body)
            if body:
                connection.send_data(event.stream_id, body, end_stream=True)
