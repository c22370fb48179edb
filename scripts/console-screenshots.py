"""Pictures for the README's owner's guide: a demo shop, then /stats as its admin sees it.

    .venv/bin/python scripts/console-screenshots.py [docs/]

Writes stats.txt (the message), stats-weekly.png and stats-cohorts.png.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.events import Event, EventKind, UserRef  # noqa: E402
from bot.core.replies import Picture, Text  # noqa: E402
from bot.loyalty.demo import run_demo  # noqa: E402
from tests.chat import TELEGRAM_LIKE  # noqa: E402

OWNER = "1"


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database={"url": f"sqlite+aiosqlite:///{tmp}/demo.db"},
                            web={"chat_enabled": False}, admins=[f"telegram:{OWNER}"],
                            shop={"name": "Coffee Point"})
        await run_demo(settings)
        application = await build(settings)
        try:
            owner = UserRef("telegram", OWNER, display_name="Olga", language_code="ru")
            replies = await application.core.handle(
                Event(owner, EventKind.COMMAND, command="stats", payload=""), TELEGRAM_LIKE)
        finally:
            await application.close()
    text, weekly, cohorts = replies
    assert isinstance(text, Text) and isinstance(weekly, Picture) and isinstance(cohorts, Picture)
    (out / "stats.txt").write_text(text.text + "\n", encoding="utf-8")
    (out / "stats-weekly.png").write_bytes(weekly.image)
    (out / "stats-cohorts.png").write_bytes(cohorts.image)
    print(text.text)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
