"""``loyalty-bot`` as a real process for the tests: the repository's own code
(``python -m bot.cli``), the test's database and secret through the environment (no
./config.toml in its working folder), its output in a log file; stopped gracefully
(SIGTERM) or killed (SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    def __init__(self, settings: Settings, workdir: Path, args: Sequence[str], *,
                 name: str = "bot", env: Mapping[str, str] = {}, timeout: float = 30.0) -> None:
        self.args, self.name, self.timeout = list(args), name, timeout
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
        self.env |= {
            "PYTHONPATH": str(ROOT),
            "LOYALTY_DATABASE__URL": settings.database.url,
            "LOYALTY_WEB__PORT": str(self.port),
            "LOYALTY_CARD__SECRET": settings.card.secret.get_secret_value(),
            "LOYALTY_ADMINS": '["telegram:1"]',  # no admin invite link to create
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", *self.args, cwd=self.workdir, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)

    async def stop(self) -> None:
        """SIGTERM, the graceful stop; it must exit cleanly."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(self.process.wait(), self.timeout) == 0, self.tail()
        self.process = None

    async def kill(self) -> None:
        """SIGKILL: no ``finally``, no graceful stop, nothing flushed."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        self.process = None

    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return self.text()[-3000:]

    async def until(self, condition: Callable[[], bool], what: str,
                    timeout: float | None = None) -> float:
        """Poll ``condition()`` until true, returning the seconds it took; fail early, with
        the log, if the process died."""
        timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not condition():
            if self.exited():
                pytest.fail(f"{self.name} exited while waiting for {what}:\n{self.tail()}")
            if loop.time() - started > timeout:
                pytest.fail(f"{what} did not happen within {timeout}s:\n{self.tail()}")
            await asyncio.sleep(0.02)
        return loop.time() - started
