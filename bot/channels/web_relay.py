"""The word between processes that a web chat visitor has new messages (PostgreSQL NOTIFY on
``CHANNEL``): who, the ids of the stored messages (never their text: a notification carries
at most 8000 bytes) and which process stored them (it showed them on its own pages already).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

CHANNEL = "loyalty_web_chat"
IDS_PER_NOTICE = 400  # well under 8000 bytes with the longest ids and visitor


@dataclass(frozen=True, slots=True)
class Notice:
    visitor: str
    ids: tuple[int, ...]
    sender: str  # the process that stored them


def payloads(visitor: str, ids: Sequence[int], sender: str) -> Iterator[str]:
    for start in range(0, len(ids), IDS_PER_NOTICE):
        yield json.dumps({"v": visitor, "ids": list(ids[start:start + IDS_PER_NOTICE]),
                          "from": sender}, separators=(",", ":"))


def parse(payload: str) -> Notice | None:
    try:
        data = json.loads(payload)
        notice = Notice(data["v"], tuple(int(i) for i in data["ids"]), data["from"])
    except (ValueError, TypeError, KeyError):
        return None
    return notice if isinstance(notice.visitor, str) and isinstance(notice.sender, str) else None
