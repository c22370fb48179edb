"""What a handler gets besides the event: the unit of work, the clock, the translator,
the conversation state and the services, all bound for one event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.events import UserRef
from bot.core.i18n import I18n, Translator
from bot.core.person import Member, Person
from bot.delivery.notify import Notification
from bot.loyalty.ledger import Ledger
from bot.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.loyalty.cards import CardTokens, QrImages
    from bot.wallet.barcode import CardScanner
    from bot.wallet.links import WalletLinks


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the core needs to know about the channel an event came from."""

    name: str
    verified_contacts: bool  # it has a "share my contact" button that proves the number
    deep_link: Callable[[str], str]  # a link that opens this bot with /start <payload>
    # a typed phone is taken (unverified: it never links to another messenger's card);
    # None: only where there is no button
    typed_phone: bool | None = None
    # a link that offers to send (text, link) to someone in this messenger, where it has one
    share_link: Callable[[str, str], str] | None = None

    @property
    def takes_typed_phone(self) -> bool:
        return not self.verified_contacts if self.typed_phone is None else self.typed_phone


@dataclass(slots=True)
class ConversationState:
    """The step of a multi-step flow; saved with the rest of the event's changes."""

    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    forgotten: bool = False  # the person's data was deleted: nothing to save

    def go(self, name: str | None, **data: Any) -> None:
        self.name, self.data, self.changed = name, dict(data), True

    def clear(self) -> None:
        self.go(None)

    def forget(self) -> None:
        self.forgotten = True


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived parts built once by the composition root."""

    settings: Settings
    clock: Clock
    i18n: I18n
    card_tokens: CardTokens
    qr: QrImages
    timezone: tzinfo
    secret: bytes  # the installation secret; derive a key per purpose (bot.core.keys)
    scanner: CardScanner  # what a cashier's scan accepts: the chat's QR, a wallet card's barcode
    wallet_links: WalletLinks | None = None  # «Add to … Wallet» links; None: no wallet configured


@dataclass(slots=True)
class Context:
    services: Services
    now: datetime  # one moment for the whole event
    uow: UnitOfWork
    channel: ChannelInfo
    user: UserRef
    identity: Person
    customer: Member | None  # the person's card: while joining, or joined
    # the two above read again from the rows the core loaded for the event (no SQL)
    read_person: Callable[[], tuple[Person, Member | None]]
    role: str | None
    t: Translator
    state: ConversationState
    ledger: Ledger
    settings: Settings  # the rules in force: the config with the owner's changes (/settings)
    notifications: list[Notification] = field(default_factory=list)  # queued with the commit

    @property
    def is_member(self) -> bool:
        """Signed up: consented, phone given, registration finished."""
        return self.customer is not None and self.customer.registered_at is not None

    @property
    def member(self) -> Member:
        """The customer, for handlers that run only for members (after the sign-up gate)."""
        if self.customer is None or self.customer.registered_at is None:
            raise RuntimeError("a member-only handler ran for someone who has not joined")
        return self.customer

    def local(self, moment: datetime) -> datetime:
        """A moment in the shop's time zone, for showing dates."""
        return moment.astimezone(self.services.timezone)

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def notify(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def reread(self) -> None:
        """Read ``identity`` and ``customer`` again, after a repository command changed them."""
        self.identity, self.customer = self.read_person()

    async def choose_language(self, code: str) -> None:
        """The person picked a language: remember it and answer in it from now on."""
        if code not in self.services.i18n.available:
            return
        await self.uow.identities.set_language(self.identity.id, code)
        self.reread()
        self.t = self.services.i18n.translator(code)
