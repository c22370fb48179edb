"""The conversation core: one unit of work per inbound event, whatever the channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace

from bot.core.after_commit import settle
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo, Context, ConversationState, Services
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.metrics import Metrics, NoMetrics, Outcome
from bot.core.person import Member, Person, member_of, person_of
from bot.core.replies import Reply, Text
from bot.core.routing import Router
from bot.core.text import has_controls, without_controls
from bot.delivery.notify import Notifier
from bot.loyalty.ledger import Ledger
from bot.loyalty.program_settings import effective_settings
from bot.storage.database import Sessions
from bot.storage.models import Identity
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# what ``_handle`` answers to a redelivered event (no replies), told apart by identity
REDELIVERED: list[Reply] = []


@dataclass
class PersonQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class Core:
    def __init__(self, services: Services, sessions: Sessions, router: Router,
                 notifier: Notifier, metrics: Metrics | None = None) -> None:
        self.services = services
        self.metrics = metrics or NoMetrics()
        self.sessions = sessions
        self.router = router
        self.notifier = notifier
        self._in_flight: set[asyncio.Task[object]] = set()
        self._people: dict[tuple[str, str], PersonQueue] = {}

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    async def handle(self, event: Event, channel: ChannelInfo,
                     prepare: Callable[[Event], Awaitable[Event]] | None = None) -> list[Reply]:
        """Handle one event in one transaction, then the work it left for after the commit
        (bot/core/after_commit.py). Never raises: a failure is logged, rolled back as a whole,
        and the user is asked to try again. ``prepare`` is the channel's last look at the
        event, in the person's turn: what a message means may depend on what the answer to
        the one before showed (a numbered menu)."""
        task = asyncio.current_task()
        if task is not None and task not in self._in_flight:
            # the whole task, so that sending the replies counts as in flight too
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        started = time.perf_counter()
        outcome: Outcome = "answered"
        try:
            async with self._turn_of(event.user.channel, event.user.external_id):
                if prepare is not None:
                    event = await prepare(event)
                replies = await self._handle(event, channel)
            if replies is REDELIVERED:
                outcome, replies = "duplicate", []
            return replies
        except Exception:
            outcome = "failed"
            log.exception("failed to handle %s event from %s:%s", event.kind.value,
                          channel.name, event.user.external_id)
            return [apology(self.services.i18n.translator(
                self.services.i18n.choose(event.user.language_code)))]
        finally:
            self.metrics.event_handled(channel.name, outcome, time.perf_counter() - started)

    @contextlib.asynccontextmanager
    async def _turn_of(self, channel: str, external_id: str) -> AsyncIterator[None]:
        """One person's events are handled one at a time, in the order they arrived (a
        quickly typed name and birthday must not swap); different people run in parallel."""
        key = (channel, external_id)
        queue = self._people.setdefault(key, PersonQueue())
        queue.waiting += 1
        try:
            async with queue.lock:  # asyncio.Lock wakes its waiters first come, first served
                yield
        finally:
            queue.waiting -= 1
            if queue.waiting == 0:
                del self._people[key]

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the events being handled (at shutdown), at most ``timeout`` seconds."""
        others = self._in_flight - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=timeout)

    async def _handle(self, event: Event, channel: ChannelInfo) -> list[Reply]:
        event = clean(event)
        services = self.services
        async with self.unit_of_work() as uow:
            now = services.clock.now()
            if event.event_id and not await uow.processed_events.claim(channel.name, event.event_id, now):
                log.info("skipping redelivered %s event %s", channel.name, event.event_id)
                return REDELIVERED
            reported = (event.user.language_code or "")[:16] or None  # the program's messages use it too
            identity = await uow.identities.claim(event.user.channel, event.user.external_id, now,
                                                  messenger_locale=reported)
            conversation = identity.conversation
            state = (ConversationState(conversation.state, dict(conversation.data or {}))
                     if conversation else ConversationState())
            locale = services.i18n.for_person(chosen_locale(identity), identity.messenger_locale)
            person, card = person_and_card(identity)
            ctx = Context(
                services=services, now=now, uow=uow, channel=channel, user=event.user,
                identity=person, customer=card, read_person=lambda: person_and_card(identity),
                role=role_of(identity, services.settings.admins),
                t=services.i18n.translator(locale),
                state=state, ledger=Ledger(uow, FrozenClock(now)),  # the event's one moment
                settings=await effective_settings(uow, services.settings),
            )
            answers = await self.router.dispatch(event, ctx)
            if state.changed and not state.forgotten:
                uow.conversations.save(identity, state.name, state.data, now)
            queued = await self.notifier.enqueue(uow, ctx.notifications, now)
            await uow.commit()
        if queued:
            self.notifier.on_enqueued()
        return await settle(answers, apology(ctx.t), lambda again: self._handle(again, channel))


def apology(t: Translator) -> Text:
    return Text(t.gettext("Something went wrong on our side. Please try again in a minute."))


def person_and_card(identity: Identity) -> tuple[Person, Member | None]:
    """What handlers see of the identity and its customer (both loaded: no SQL)."""
    return person_of(identity), member_of(identity.customer) if identity.customer else None


def role_of(identity: Identity, admins: Collection[str]) -> str | None:
    """"admin" for an admin of the config file's ``admins``, else the staff role, if any
    (the identity's ``staff`` loaded)."""
    if f"{identity.channel}:{identity.external_id}" in admins:
        return "admin"
    staff = identity.staff
    return staff.role if staff and staff.blocked_at is None else None  # blocked: no desk


def chosen_locale(identity: Identity) -> str | None:
    """The language the person picked in Settings, if they did (``customer`` loaded)."""
    customer = identity.customer
    return (customer.locale if customer else None) or identity.locale


def clean(event: Event) -> Event:
    """The event without control characters in what a person typed or their messenger
    reports (a NUL in a typed name would otherwise reach the database)."""
    name = event.user.display_name
    if not has_controls(event.text) and not (name and has_controls(name)) \
            and not has_controls(event.payload or ""):
        return event
    user = replace(event.user, display_name=without_controls(name) if name else name)
    return replace(event, user=user, text=without_controls(event.text),
                   payload=without_controls(event.payload) if event.payload else event.payload)
