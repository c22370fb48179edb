"""The conversation core: one unit of work per inbound event, whatever the channel."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace

from bot.core.after_commit import settle
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo, Context, ConversationState, Services
from bot.core.events import ID_LENGTH, Event, platform_id
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
        if platform_id(event.user.external_id) is None:  # the adapters refuse such ids first
            log.warning("ignoring a %s event from an id the database can't keep: %r",
                        channel.name, event.user.external_id[:80])
            return []
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
    """The event as the database can keep it: no control character nor lone surrogate in
    what a person typed or their messenger reports (a NUL in a typed name, a surrogate in a
    language code would otherwise reach a query), and an event id that fits."""
    user = event.user
    if any(has_controls(text) for text in (event.text, event.payload or "",
                                           user.display_name or "", user.language_code or "")):
        user = replace(user, display_name=_cleaned(user.display_name),
                       language_code=_cleaned(user.language_code))
        event = replace(event, user=user, text=without_controls(event.text),
                        payload=_cleaned(event.payload))
    if event.event_id is not None and platform_id(event.event_id) is None:
        event = replace(event, event_id=_hashed(event.event_id))
    return event


def _cleaned(text: str | None) -> str | None:
    return without_controls(text) if text else text


def _hashed(event_id: str) -> str:
    """An event id too long or with characters the database can't keep, as its hash: a
    redelivery of the event has the same one."""
    digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "#" + digest[:ID_LENGTH - 1]
