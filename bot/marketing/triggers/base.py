"""What a trigger module declares (``AutomaticTrigger``) and the pieces its selection query
is built from: the customers one round looks at (``Scope``), the shop's days (``Day``), who
may get a marketing message at all (``eligible``), the episodes already sent (``sent``,
``not_sent``) and what a trigger picks (``Candidate``, of a ``Picked``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, exists, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.config import Settings, Tier, Trigger, TriggersSettings
from bot.core.i18n import Translator
from bot.core.replies import Keyboard
from bot.storage.models import Customer, Identity, Purchase, TriggerSend
from bot.storage.repositories._sql import IN_CHUNK
from bot.storage.uow import UnitOfWork

#: What every trigger's message is filled in with (its WhatsApp template gets them too).
VALUES = ("name", "balance", "points", "expires_on", "holiday", "tier")


class Picked(NamedTuple):
    """What a trigger needs to know of a customer: a few columns, not the ORM object (a
    digest day picks nearly everyone, and a pass holds them all)."""

    id: int
    card_number: str
    name: str | None
    purchase_count: int
    total_spent: int
    birth_month: int | None
    birth_day: int | None


PERSON = (Customer.id, Customer.card_number, Customer.name, Customer.purchase_count,
          Customer.total_spent, Customer.birth_month, Customer.birth_day)


async def people(uow: UnitOfWork, stmt: Select[*tuple[Any, ...]]) -> list[Picked]:
    return [Picked(*row) for row in (await uow.session.execute(stmt)).all()]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One customer a trigger picked, for one episode."""

    trigger: str
    customer: Picked
    episode: str
    points: int = 0  # an expiry warning: how many burn
    burns_at: datetime | None = None
    gift: int | None = None  # instead of the trigger's gift_points (a holiday's own)
    title: str = ""  # a holiday's name
    tier: Tier | None = None  # a tier nudge: the tier one purchase away
    purchase: Purchase | None = None  # a review request: the purchase to rate


class Day:
    """Shop-local days as UTC instants."""

    def __init__(self, at: datetime, zone: tzinfo) -> None:
        self.zone = zone
        self.today = at.astimezone(zone).date()

    def start(self, offset: int) -> datetime:
        """The start of the local day ``today + offset`` in UTC."""
        return datetime.combine(self.today + timedelta(days=offset), time(0), self.zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Scope:
    """What one round of selection looks at: the moment, its local day, the channels that
    can deliver, and a range of customer ids (a pass goes through the customers in ranges,
    so its memory does not grow with their number). ``shared`` keeps what several triggers
    of the round read once (the win-back stages: the last purchases)."""

    at: datetime
    day: Day
    channels: Sequence[str]
    first_id: int
    last_id: int
    shared: dict[str, Any] = field(default_factory=dict)


def eligible(scope: Scope, topic: InstrumentedAttribute[bool] = Customer.notify_reminders,
             ) -> ColumnElement[bool]:
    """In the scope's range, registered, consented, not opted out of the topic (reminders
    unless told), reachable on some channel."""
    reachable = exists().where(Identity.customer_id == Customer.id, Identity.reachable.is_(True),
                               Identity.channel.in_(list(scope.channels)))
    return and_(Customer.id.between(scope.first_id, scope.last_id),
                Customer.registered_at.is_not(None), Customer.registered_at <= scope.at,
                Customer.consent_at.is_not(None), topic.is_(True), reachable)


def not_sent(trigger: str, episode: str | SQLColumnExpression[str]) -> ColumnElement[bool]:
    return ~exists().where(TriggerSend.customer_id == Customer.id, TriggerSend.trigger == trigger,
                           TriggerSend.episode == episode)


async def sent(uow: UnitOfWork, trigger: str, customer_ids: Sequence[int]) -> set[tuple[int, str]]:
    """(customer id, episode) of the trigger's earlier sends to these customers."""
    found: set[tuple[int, str]] = set()
    for start in range(0, len(customer_ids), IN_CHUNK):
        found.update((await uow.session.execute(
            select(TriggerSend.customer_id, TriggerSend.episode)
            .where(TriggerSend.trigger == trigger,
                   TriggerSend.customer_id.in_(customer_ids[start:start + IN_CHUNK])))).all())
    return found


async def customers(uow: UnitOfWork, customer_ids: Sequence[int]) -> list[Picked]:
    """These customers, by id."""
    ordered = sorted(customer_ids)
    found: list[Picked] = []
    for start in range(0, len(ordered), IN_CHUNK):
        found += await people(uow, select(*PERSON).where(
            Customer.id.in_(ordered[start:start + IN_CHUNK])).order_by(Customer.id))
    return found


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def gift_line(t: Translator, values: dict[str, str], gives: bool) -> list[str]:
    """The gift, as a composed message adds it when there is one."""
    return [t.gettext("Our gift: {points} (valid until {expires_on}).").format(**values)] if gives else []


def days_before(t: Translator, config: Trigger) -> str:
    return t.ngettext("{n} day before", "{n} days before", config.days).format(n=config.days)


class AutomaticTrigger:
    """One automatic trigger, all in its module: its code, its one name, what its episode
    means, its selection query, its timing as /settings says it and its built-in message.
    Its config (timing, gift, the shop's own texts, their extra placeholders) is the section
    ``triggers.<name>`` of bot/config.py; bot/marketing/triggers/registry.py lists it once,
    in the order the pass applies the triggers under the daily cap."""

    #: The code: its config section, ``trigger_sends.trigger`` and its WhatsApp template key.
    name: str
    #: Its one name people read (/settings, /triggers, the command line), for the catalogs.
    title: str
    #: What its episode tells about why the customer was picked (the preview's «why»).
    episode: str
    #: The built-in message as /settings shows it (placeholders left in), or what a
    #: composed one says; a msgid.
    about: str
    #: Due hours after something happens: the scheduler runs it every hour, not only daily.
    hourly: ClassVar[bool] = False
    #: The values ``values`` adds to ``VALUES`` (its own text's extra placeholders among them).
    extra_values: ClassVar[tuple[str, ...]] = ()

    @property
    def template_parameters(self) -> tuple[str, ...]:
        """What its WhatsApp template (``whatsapp.templates.<name>``) may be filled in with."""
        return VALUES + self.extra_values

    def config(self, triggers: TriggersSettings) -> Trigger:
        config: Trigger = getattr(triggers, self.name)
        return config

    def timing(self, t: Translator, config: Trigger) -> str:
        """When it fires, short enough for a /settings button."""
        raise NotImplementedError

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        """The customers of the scope it picks, each with an episode not sent yet: set-based
        queries, a few per range of customers, never one per customer."""
        raise NotImplementedError

    def values(self, t: Translator, candidate: Candidate, settings: Settings,
               zone: tzinfo) -> dict[str, str]:
        """Its values beyond ``VALUES``: ``extra_values`` in the recipient's language."""
        return {}

    def buttons(self, candidate: Candidate) -> Keyboard:
        return ()

    def text(self, t: Translator, values: dict[str, str], gives: bool, candidate: Candidate,
             settings: Settings) -> str:
        """The built-in message, filled in (``gives``: a gift comes with it)."""
        return t.gettext(self.about).format(**values)
