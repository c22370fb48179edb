"""The pictures a wallet card needs when the shop gives none (``wallet.logo``): a square
in the card's colour. Apple refuses a pass without an icon; Google's class needs a logo."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def solid_png(size: int, colour: str) -> bytes:
    """A ``size``×``size`` PNG of one ``#RRGGBB`` colour."""
    rgb = bytes.fromhex(colour.removeprefix("#"))
    rows = b"".join(b"\x00" + rgb * size for _ in range(size))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def logo(path: Path | None, colour: str, size: int = 160) -> bytes:
    return path.read_bytes() if path is not None else solid_png(size, colour)
