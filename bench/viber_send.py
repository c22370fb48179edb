"""Viber sending benchmark: the two ways to send without blocking the event loop, in one run,
against the fake Viber API (tests/fakes/viber_api.py) in a process of its own on 127.0.0.1.

    cd /work/main && .venv/bin/python bench/viber_send.py [--messages 2000] [--concurrency 30]

    aiohttp  the adapter's ViberApi: one aiohttp session, X-Viber-Auth-Token header
    thread   viberbot's own MessageSender (requests, a new connection per message) in
             asyncio.to_thread

Both send the same viberbot TextMessage to distinct receivers, ``--concurrency`` at a time
(30: the outbox's default Viber rate), and print messages a second. The result picks the way
bot/channels/viber.py sends (see its docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viberbot.api.api_request_sender import ApiRequestSender
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.consts import VIBER_BOT_USER_AGENT
from viberbot.api.message_sender import MessageSender
from viberbot.api.messages import TextMessage

from bot.channels.viber import ViberApi
from tests.fakes.viber_api import FakeViberAPI

TOKEN = "bench-token"
SENDER = {"name": "Bench"}


def serve(ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> None:
        async with FakeViberAPI(TOKEN) as api:
            ready.put(api.base_url)
            await asyncio.Event().wait()

    asyncio.run(run())


async def measure(send: Callable[[int], Awaitable[object]], messages: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await send(n)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(messages)))
    return messages / (time.perf_counter() - started)


async def through_aiohttp(base_url: str, messages: int, concurrency: int) -> float:
    api = ViberApi(TOKEN, base_url)

    async def send(n: int) -> None:
        message = TextMessage(text=f"message {n}")
        await api.call("send_message", {**message.to_dict(), "receiver": f"user-{n}", "sender": SENDER})

    try:
        return await measure(send, messages, concurrency)
    finally:
        await api.close()


async def through_thread(base_url: str, messages: int, concurrency: int) -> float:
    config = BotConfiguration(auth_token=TOKEN, name=SENDER["name"], avatar=None)
    logger = logging.getLogger("viber.bench")
    sender = MessageSender(logger, ApiRequestSender(logger, base_url, config, VIBER_BOT_USER_AGENT),
                           config)

    async def send(n: int) -> None:
        await asyncio.to_thread(sender.send_message, f"user-{n}", SENDER["name"], None,
                                TextMessage(text=f"message {n}"))

    return await measure(send, messages, concurrency)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(ready,), daemon=True)
    server.start()
    try:
        base_url = ready.get(timeout=10)
        await through_aiohttp(base_url, 100, args.concurrency)  # warm up both sides
        for name, way in (("aiohttp", through_aiohttp), ("thread", through_thread)):
            rate = await way(base_url, args.messages, args.concurrency)
            print(f"{name:8} {args.messages} messages, {args.concurrency} at a time: "
                  f"{rate:8.0f} messages/s", flush=True)
    finally:
        server.terminate()
        server.join()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
