"""The composition root: config → engine → services → core → channels → web server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot import api as pos_api
from bot.api import health
from bot.api import metrics as metrics_endpoint
from bot.channels.base import Channel
from bot.channels.registry import built_in, kinds
from bot.config import Settings
from bot.console.invites import STARTED_TOGETHER, create_invite
from bot.core.clock import Clock, SystemClock
from bot.core.context import Services
from bot.core.conversation import Core
from bot.core.i18n import I18n
from bot.core.keys import SECRET_NAME, derive
from bot.delivery.notify import Notifier
from bot.delivery.outbox import OutboxSender
from bot.delivery.pace import SharedPace
from bot.handlers.registry import build_router
from bot.loyalty.cards import CardTokens, QrImages
from bot.marketing import broadcasts, templates
from bot.roles import Role
from bot.scheduler.leading import lead_scheduler
from bot.storage import database
from bot.storage.database import Engine, Sessions
from bot.storage.health import Probe
from bot.storage.leader import shared
from bot.storage.repositories.wallet_passes import WALLET_CHANNEL
from bot.storage.session import WALLET
from bot.storage.uow import UnitOfWork
from bot.wallet import routes as wallet_routes
from bot.wallet.barcode import CardScanner, wallet_tokens
from bot.wallet.setup import Wallet, build_wallet, configured, wallet_links
from bot.wallet.updates import WalletUpdates

log = logging.getLogger(__name__)

# seconds between attempts to reach a messenger that can't be reached at start
CONNECT_BACKOFF = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0)



@dataclass
class Application:
    settings: Settings
    engine: Engine
    core: Core
    operations: web.Application  # what a worker serves: /healthz, /readyz and /metrics only
    web: web.Application  # what a web process serves: all of the above and the rest
    outbox: OutboxSender
    probe: Probe  # /readyz: the database answers and its schema is current
    channels: list[Channel] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)  # channels still trying to start
    _connecting: list[asyncio.Task[None]] = field(default_factory=list)
    wallet: Wallet | None = None  # the card in Apple Wallet / Google Wallet, when configured

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    async def connect(self, first_wait: float = 10.0,
                      backoff: tuple[float, ...] = CONNECT_BACKOFF) -> None:
        """Start every channel, each on its own: a messenger that can't be reached (its API
        down, a wrong token) is tried again in the background with a growing pause, logged
        each time, while the web chat, the POS API and the other messengers serve. Waits at
        most ``first_wait`` seconds for the first attempts."""
        self._connecting = [asyncio.create_task(self._connect(channel, backoff),
                                                name=f"connect-{channel.name}")
                            for channel in self.channels]
        if self._connecting:
            await asyncio.wait(self._connecting, timeout=first_wait)

    async def _connect(self, channel: Channel, backoff: tuple[float, ...]) -> None:
        attempt = 0
        while True:
            try:
                await channel.start()
            except Exception as error:  # unreachable for now: the rest of the program serves
                self.unreachable.add(channel.name)
                pause = backoff[min(attempt, len(backoff) - 1)]
                log.error("%s can't be reached (%s: %s); trying again in %s s, the rest of "
                          "the program is serving", channel.name, type(error).__name__, error, pause)
                attempt += 1
                await asyncio.sleep(pause)
                continue
            self.unreachable.discard(channel.name)
            if attempt:
                log.info("%s is connected after %d failed attempt(s)", channel.name, attempt)
            return

    async def close(self) -> None:
        """Stop taking input, let the events in flight finish, then release everything."""
        for task in self._connecting:
            task.cancel()
        await asyncio.gather(*self._connecting, return_exceptions=True)
        for channel in self.channels:
            await channel.stop()
        await self.core.drain()
        await self.outbox.stop()  # the pass in progress finishes and is recorded
        await self.outbox.pace.close()
        if self.wallet is not None:
            await self.wallet.close()
        for channel in self.channels:
            await channel.close()
        await self.probe.close()
        await self.engine.dispose()


async def installation_secret(settings: Settings, uow: UnitOfWork) -> bytes:
    """The configured secret, else one generated once and kept in the database. It signs
    QR tokens and web chat cookies and keys the hashes of erased phones."""
    configured = settings.card.secret.get_secret_value()
    if configured:
        return configured.encode()
    async with uow:
        key = await uow.secrets.get_or_create(SECRET_NAME, lambda: secrets.token_hex(32))
        await uow.commit()
    return key.encode()


async def keep_day_book(sessions: Sessions, zone: ZoneInfo, now: datetime) -> None:
    """The console's running totals, built on the first start and after a time zone change."""
    async with UnitOfWork(sessions) as uow:
        if await uow.book.ensure(zone, now):
            await uow.commit()


async def build(settings: Settings, clock: Clock | None = None) -> Application:
    """Assemble everything; the database must already be migrated."""
    clock = clock or SystemClock()
    engine = database.create_engine(settings.database.url, echo=settings.database.echo)
    sessions = database.session_factory(engine)
    if configured(settings):  # every balance change queues the customer's wallet update
        sessions.configure(info={WALLET: True})
    secret = await installation_secret(settings, UnitOfWork(sessions))
    zone = ZoneInfo(settings.shop.timezone)
    card_tokens = CardTokens(derive(secret, "card-token"),
                             timedelta(minutes=settings.card.token_ttl_minutes))
    services = Services(
        settings=settings,
        clock=clock,
        i18n=I18n(settings.locale.available, settings.locale.default),
        card_tokens=card_tokens,
        secret=secret,
        qr=QrImages(),
        timezone=zone,
        scanner=CardScanner(card_tokens, wallet_tokens(secret, settings.wallet.barcode_days)),
        wallet_links=wallet_links(settings, secret),
    )
    await keep_day_book(sessions, zone, clock.now())
    registry: dict[str, Channel] = {}  # by name: who the notifier and the outbox can reach
    notifier = Notifier(services.i18n, settings, registry)
    metrics = metrics_endpoint.PrometheusMetrics()
    core = Core(services, sessions, build_router(), notifier, metrics)
    # several processes on one PostgreSQL share the channels' rate limits there
    pace = SharedPace(sessions, settings.outbox) if shared(settings.database.url) else None
    outbox = OutboxSender(sessions, registry, settings.outbox, clock,
                          stored_images=lambda ref: broadcasts.stored_image(sessions, ref),
                          metrics=metrics, pace=pace)
    notifier.on_enqueued = outbox.wake
    app, operations = web.Application(), web.Application()
    application = Application(settings, engine, core, operations, app, outbox,
                              Probe(settings.database.url))
    for served in (app, operations):
        health.install(served, application.probe)
        if settings.metrics.token:
            metrics_endpoint.install(served, metrics, core.unit_of_work,
                                     settings.metrics.token.get_secret_value())
    pos_api.install(app, core)
    for kind in kinds():
        if kind.enabled(settings):
            channel = kind.build(settings, core, outbox.pace)
            channel.install(app)
            application.channels.append(channel)
    registry.update({channel.name: channel for channel in application.channels})
    catalogue = templates.catalogue()
    for channel in application.channels:
        for problem in channel.template_problems(catalogue):
            log.warning(problem)
    try:
        application.wallet = build_wallet(services, core.unit_of_work, registry)
    except Exception:
        await application.close()
        raise
    if application.wallet is not None:
        wallet_routes.install(app, application.wallet)
        registry[WALLET_CHANNEL] = WalletUpdates(application.wallet)  # the outbox delivers updates
    return application


async def admin_invite_links(application: Application) -> list[str]:
    """While nobody administers the program, a fresh one-time admin link per start. The
    links of the processes started together (within ``STARTED_TOGETHER``) all work until
    one of them is used; a later start retires the earlier ones."""
    settings = application.settings
    if settings.admins:
        return []
    now = application.core.services.clock.now()
    async with application.core.unit_of_work() as uow:
        if await uow.staff.has_admin():
            return []
        await uow.staff.revoke_bootstrap_invites(made_before=now - STARTED_TOGETHER)
        payload = await create_invite(uow, "admin", None, now)
        await uow.commit()
    return [channel.info().deep_link(payload) for channel in application.channels
            if channel.name not in application.unreachable]  # a link needs the bot's name


@contextlib.contextmanager
def stop_requested() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT (a service manager's stop, Ctrl+C), so that the
    shutdown runs: the messages in flight are recorded as sent, not resent after a restart.
    Installed before anything starts, so that a stop during start-up is not a kill."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def serve(settings: Settings, role: Role = Role.ALL) -> None:
    """Run until stopped (SIGTERM, Ctrl+C): migrations, then what the role runs (web server
    and channels; scheduler and outbox sender); then stop taking input, finish what is in
    flight and close."""
    with stop_requested() as stop:  # first: from its first line on, a stop is graceful
        print(f"loyalty-bot: role {role}: {role.runs}", flush=True)
        log.info("role %s: %s", role, role.runs)
        if role is Role.WORKER and not shared(settings.database.url):
            log.warning("a worker on SQLite: SQLite serves one process, so run `--role all` "
                        "alone (several processes need PostgreSQL)")
        await database.prepare(settings.database.url)
        application = await build(settings)
        inbound, background = role.inbound, role.background
        # a worker serves only its probes and metrics, on the same port setting
        runner = web.AppRunner(application.web if inbound else application.operations)
        scheduling: asyncio.Task[None] | None = None
        try:
            await runner.setup()
            await web.TCPSite(runner, settings.web.host, settings.web.port).start()
            if inbound:
                await application.connect()  # a worker's channels only send: no polling, no webhook set
            if background:
                scheduling = asyncio.create_task(lead_scheduler(application.core), name="scheduler")
                await application.outbox.start()
            if inbound:
                await announce(application)
            await stop.wait()
        finally:
            if scheduling is not None:
                scheduling.cancel()
                await asyncio.gather(scheduling, return_exceptions=True)
            await runner.cleanup()  # no new webhook or web chat requests
            await application.close()


async def announce(application: Application) -> None:
    """Where the web chat is, and the one-time admin link while nobody administers."""
    served = built_in()
    if application.channel(served.name):
        print(f"{served.label}: {application.settings.web.base_url()}/", flush=True)
    for link in await admin_invite_links(application):
        print(f"One-time admin link: {link}", flush=True)
