"""Database tables. Points are integers; timestamps are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the injected clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are plain integers there.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    card_number: Mapped[str] = mapped_column(String(16), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(64))
    birth_day: Mapped[int | None] = mapped_column(SmallInteger)
    birth_month: Mapped[int | None] = mapped_column(SmallInteger)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    locale: Mapped[str | None] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # the day book is told when this changes (bot/storage/session.py): the old value is known
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), active_history=True)
    purchase_count: Mapped[int] = mapped_column(Integer, default=0)
    total_spent: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units, net of refunds
    email: Mapped[str | None] = mapped_column(String(254))
    heard_from: Mapped[str | None] = mapped_column(String(64))
    profile_completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    referral_rewarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notify_promotions: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    # the messenger the program's messages go to; None: the one the customer used last
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    # set by an admin (a velocity alert's button): the card neither earns nor spends meanwhile
    blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    identities: Mapped[list[Identity]] = relationship(back_populates="customer")

    __table_args__ = (
        # One verified phone is one customer; typed (unverified) phones may repeat.
        Index(
            "uq_customers_verified_phone",
            "phone",
            unique=True,
            sqlite_where=text("phone_verified = 1"),
            postgresql_where=text("phone_verified"),
        ),
        Index("ix_customers_registered", "registered_at"),  # the console's figures by period
        Index("ix_customers_phone", "phone"),  # a typed phone, as the cashier finds it (0021)
    )


class Identity(Base):
    """A person as one channel knows them (channel + external id)."""

    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str | None] = mapped_column(String(8))  # chosen in Settings
    messenger_locale: Mapped[str | None] = mapped_column(String(16))  # what the messenger says
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    source: Mapped[str | None] = mapped_column(String(64))
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())

    customer: Mapped[Customer | None] = relationship(back_populates="identities")
    conversation: Mapped[Conversation | None] = relationship(passive_deletes=True)
    staff: Mapped[Staff | None] = relationship(passive_deletes=True)

    __table_args__ = (UniqueConstraint("channel", "external_id"),)


class Conversation(Base):
    """Where an identity stands in a multi-step flow; stored so a restart continues it."""

    __tablename__ = "conversations"

    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PointOperation(Base):
    """Every change of a customer's points, with its reason."""

    __tablename__ = "point_operations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # earn | spend | expire | adjust
    reason: Mapped[str] = mapped_column(String(32))  # welcome, purchase, gift, ...
    amount: Mapped[int] = mapped_column(Integer)  # signed: + earned, - spent or expired
    reference: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    purchase_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchases.id", ondelete="SET NULL"), index=True)
    actor_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"))  # the staff member who did it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_point_operations_created", "created_at"),)


class PointLot(Base):
    """Points earned together, with their own expiry; ``remaining`` shrinks as they are spent."""

    __tablename__ = "point_lots"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    operation_id: Mapped[int] = mapped_column(
        ForeignKey("point_operations.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    available_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_point_lots_customer_expiry", "customer_id", "expires_at"),
        Index("ix_point_lots_expiry_open", "expires_at", sqlite_where=text("remaining > 0"),
              postgresql_where=text("remaining > 0")),
        CheckConstraint("amount > 0 AND remaining >= 0 AND remaining <= amount", name="points"),
    )


class PointSpend(Base):
    """How many points one spending operation took from one lot (so it can be reversed)."""

    __tablename__ = "point_spends"

    operation_id: Mapped[int] = mapped_column(
        ForeignKey("point_operations.id", ondelete="CASCADE"), primary_key=True
    )
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("point_lots.id", ondelete="CASCADE"), primary_key=True
    )
    amount: Mapped[int] = mapped_column(Integer)


class ProcessedEvent(Base):
    """Inbound platform events already handled (a redelivered update is handled once)."""

    __tablename__ = "processed_events"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Staff(Base):
    __tablename__ = "staff"

    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))  # admin | cashier
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))
    invited_by: Mapped[int | None] = mapped_column(Id)
    blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # a cashier paused by an admin
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StaffInvite(Base):
    __tablename__ = "staff_invites"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_by: Mapped[int | None] = mapped_column(Id)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ErasedPhone(Base):
    """A keyed hash of each verified phone whose owner deleted their data: joining again
    is welcome, the welcome bonus a second time is not."""

    __tablename__ = "erased_phones"

    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WelcomedPhone(Base):
    """A keyed hash of each phone number the welcome bonus was paid to, typed or verified
    (0021): the bonus is paid once per number, whichever card, messenger or erasure follows."""

    __tablename__ = "welcomed_phones"

    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    welcomed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SharedPhone(Base):
    """Two cards with one phone number, verified on one and typed on the other, that the
    admins were asked about (bot/loyalty/shared_phones.py): ``open`` until an admin taps Merge or
    Keep apart. A merge deletes the typed card; its id and number stay here, so its QR code
    or number says it was joined to the verified one."""

    __tablename__ = "shared_phones"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    verified_customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    typed_customer_id: Mapped[int] = mapped_column(Id)  # no key: it outlives a merged card
    typed_card_number: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))

    __table_args__ = (
        # asked once per pair; a merged card's id may come back on SQLite, as a new card's
        Index("uq_shared_phones_pair", "verified_customer_id", "typed_customer_id", unique=True,
              sqlite_where=text("status != 'merged'"), postgresql_where=text("status != 'merged'")),
        CheckConstraint("status IN ('open', 'merged', 'apart')", name="status"),
        Index("ix_shared_phones_typed_customer", "typed_customer_id"),
        Index("ix_shared_phones_typed_card", "typed_card_number"),
    )


class AppSecret(Base):
    """Secrets generated by the installation itself (e.g. the QR signing key)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Outlet(Base):
    """A point of sale: staff work at one, a till's API key belongs to one."""

    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PosKey(Base):
    """An API key of an outlet; only its SHA-256 is stored. A "till" key records purchases
    and refunds; an "admin" key may also read the reports."""

    __tablename__ = "pos_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="till", server_default="till")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Purchase(Base):
    """A purchase at an outlet, unique by its receipt there (so a retry changes nothing)."""

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"))
    receipt_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))  # kept, anonymous, if the customer leaves
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    points_spent: Mapped[int] = mapped_column(Integer)
    points_earned: Mapped[int] = mapped_column(Integer)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, active_history=True)
    points_returned: Mapped[int] = mapped_column(Integer, default=0)  # of points_spent, by refunds
    points_reversed: Mapped[int] = mapped_column(Integer, default=0)  # of points_earned, by refunds
    balance_after: Mapped[int] = mapped_column(Integer)
    tier_after: Mapped[str | None] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(64))  # what was asked, to spot a changed retry
    source: Mapped[str] = mapped_column(String(8))  # chat | pos | import
    actor_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"))  # the cashier, in the chat
    pos_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("pos_keys.id", ondelete="SET NULL"))  # the till, through the POS API
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("outlet_id", "receipt_id"),
        Index("ix_purchases_customer_occurred", "customer_id", "occurred_at"),
        # the console's figures by period read only the index
        Index("ix_purchases_occurred", "occurred_at", "customer_id", "amount", "refunded_amount"),
    )


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"))
    refund_key: Mapped[str | None] = mapped_column(String(64))  # the till's id, for retries
    amount: Mapped[int] = mapped_column(BigInteger)
    points_returned: Mapped[int] = mapped_column(Integer)
    points_reversed: Mapped[int] = mapped_column(Integer)
    actor_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"))
    pos_key_id: Mapped[int | None] = mapped_column(ForeignKey("pos_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("purchase_id", "refund_key"),)


class Review(Base):
    """A customer's rating of one purchase (points for it once)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"),
                                             unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxMessage(Base):
    """A message to a person, written in the transaction that caused it and sent later by
    the outbox sender (bot/delivery/outbox.py). ``payload`` holds the rendered replies."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(16))  # "service" now; "marketing" later
    payload: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # 16 since 0008
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # "cancelled" (0008): a stopped broadcast's messages that were still waiting
        # "waiting" (0017): for a web visitor with no page open, kept until they come back
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'cancelled', "
                        "'waiting')", name="status"),
        Index("ix_outbox_due", "status", "not_before"),
    )


class OutboxPace(Base):
    """The outbox's rate limits shared by every process on PostgreSQL (bot/delivery/pace.py):
    per channel (``chat`` empty) and per chat of a channel, the next free moment to send
    (``next_at``), and for a channel the end of a pause its platform asked for. A row whose
    moments are past says nothing more than no row: such rows are deleted. UNLOGGED on
    PostgreSQL (migration 0025): no WAL write, no wait for one at the commit."""

    __tablename__ = "outbox_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat: Mapped[str] = mapped_column(String(64), primary_key=True)  # "": the whole channel
    next_at: Mapped[datetime] = mapped_column(UtcDateTime())
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebMessage(Base):
    """One message of a web chat visitor's conversation, kept on the server so that a
    returning visitor (the same cookie) sees it again: what the bot sent (as the page
    renders it) and what the visitor typed or pressed."""

    __tablename__ = "web_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(8))  # "bot" | "visitor"
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_web_messages_identity", "identity_id", "id"),
        Index("ix_web_messages_created", "created_at"),
    )


class WebDownload(Base):
    """A file offered to a web chat visitor as a download link (an export), kept here until
    it expires so that any web process behind the proxy serves the link; housekeeping
    removes the expired ones. Only a hash of the link's token is kept. By the visitor's id,
    not their identity: a visitor may be sent a file before they first wrote."""

    __tablename__ = "web_downloads"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    visitor: Mapped[str] = mapped_column(String(64))  # the web identity's external_id
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class TriggerSend(Base):
    """One automatic trigger fired for one customer in one episode (a win-back: the date of
    the last purchase; a birthday: its year; an expiry warning: the lot): at most once."""

    __tablename__ = "trigger_sends"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(32))
    episode: Mapped[str] = mapped_column(String(32))
    held_out: Mapped[bool] = mapped_column(Boolean)  # eligible, deliberately sent nothing
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"))
    points_given: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("customer_id", "trigger", "episode"),
        Index("ix_trigger_sends_trigger_created", "trigger", "created_at"),
    )


class AuditEntry(Base):
    """Something an admin did that must be answerable later: who, when, what, to whom
    (an export of personal data, points added or taken by hand, a settings change)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    actor_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))  # export, points, birthday, settings, ...
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_audit_log_created", "created_at"),)


class Broadcast(Base):
    """A message from the owner to a segment: a draft while it is composed, then ``sending``
    (its recipients are written to the outbox in batches), ``done`` or ``cancelled``."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    author_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    text: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    button_label: Mapped[str | None] = mapped_column(String(64))
    button_url: Mapped[str | None] = mapped_column(String(512))
    segment: Mapped[str | None] = mapped_column(String(64))
    audience: Mapped[int] = mapped_column(Integer, default=0)  # at the confirmation
    tested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # the send
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # all recipients written
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # done or cancelled
    reported: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # last progress shown

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'sending', 'done', 'cancelled')", name="status"),
        Index("ix_broadcasts_status", "status"),
    )


class BroadcastRecipient(Base):
    """One customer's copy of a broadcast, at most one: the audience, written all at once
    at the confirmation (0011). ``written_at`` is None until their outbox message is
    written; after that, ``outbox_message_id`` None means they could not be reached (or
    opted out) by then."""

    __tablename__ = "broadcast_recipients"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the confirmation
    written_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # their first tap on the message's «Unsubscribe» (migration 0020): counted in the report
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("broadcast_id", "customer_id"),
        # the next batch: this broadcast's rows still to write, in customer order
        Index("ix_broadcast_recipients_unwritten", "broadcast_id", "written_at", "customer_id"),
    )


class TriggerOverride(Base):
    """What the owner changed about a trigger in the chat (/settings), applied over the
    config at every pass: ``enabled`` (None: the config's) and the shop's own texts per
    locale ({locale: text}; a locale left out keeps the config's or the built-in text)."""

    __tablename__ = "trigger_overrides"

    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))


class SettingValue(Base):
    """A program rule the owner changed in the chat (/settings), by its path in the config
    ("program.welcome_bonus", "program.tiers", "triggers.quiet_start"): the JSON value in
    force over the config file's, from the next operation on. The audit log keeps the
    history (action "settings")."""

    __tablename__ = "setting_values"

    path: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))


# --- the day book: running totals behind the owner's figures (bot/storage/day_book.py) ------

class StatsBook(Base):
    """Whether the day book is kept and in which time zone its days are (one row, id 1).
    No row: not built yet, the writes keep nothing; the app builds it at start."""

    __tablename__ = "stats_book"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StatsDay(Base):
    """One shop-local day: receipts that day (erased customers' too), points moved that
    day (by customers still here), and the members who joined that day with their net
    revenue to date. Each book table's row is split into shards that add up (``shard``, the
    last key column): concurrent writers add into different shards, not one hot row."""

    __tablename__ = "stats_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    purchases: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue: Mapped[int] = mapped_column(BigInteger, default=0)
    points_issued: Mapped[int] = mapped_column(BigInteger, default=0)
    points_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    points_expired: Mapped[int] = mapped_column(BigInteger, default=0)
    joined: Mapped[int] = mapped_column(BigInteger, default=0)
    joined_revenue: Mapped[int] = mapped_column(BigInteger, default=0)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)  # see day_book


class StatsGap(Base):
    """Counted purchases by their day and the day of the same customer's previous one
    (``FIRST_PURCHASE`` for none) and their number (1, 2, 3 = third or later): enough to
    count distinct buyers of any run of days without reading the purchases."""

    __tablename__ = "stats_gaps"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    previous_day: Mapped[date] = mapped_column(Date, primary_key=True)
    nth: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    purchases: Mapped[int] = mapped_column(BigInteger, default=0)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)


class StatsCohort(Base):
    """Members who joined in ``cohort`` (a month's first day) and bought in ``month``."""

    __tablename__ = "stats_cohorts"

    cohort: Mapped[date] = mapped_column(Date, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    buyers: Mapped[int] = mapped_column(BigInteger, default=0)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)


class WhatsAppSend(Base):
    """A free-form WhatsApp message the program started (a trigger's, a broadcast's) by its
    platform id: WhatsApp may report its failure later, in a status webhook, and the outbox
    message then goes again as its template (bot/channels/whatsapp.py)."""

    __tablename__ = "whatsapp_sends"

    wamid: Mapped[str] = mapped_column(String(128), primary_key=True)
    outbox_message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"),
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SegmentSnapshot(Base):
    """The customer segments as of ``taken_at`` (bot/marketing/segment_snapshot.py): the nightly
    job's, or the first one a small shop needs. While it is being written ``completed_at``
    is empty and nobody reads it."""

    __tablename__ = "segment_snapshots"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # the shop's day of taken_at
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    members: Mapped[int] = mapped_column(BigInteger, default=0)  # as of taken_at
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SegmentCount(Base):
    """A segment's size in a snapshot (kept for every snapshot: the history); for a scored
    segment, how many came into it and left it since the snapshot before (None for the
    first one); for a source, the source itself (its code may be a hash)."""

    __tablename__ = "segment_counts"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("segment_snapshots.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger)
    moved_in: Mapped[int | None] = mapped_column(BigInteger)
    moved_out: Mapped[int | None] = mapped_column(BigInteger)
    label: Mapped[str | None] = mapped_column(String(64))


class SegmentScore(Base):
    """A member who has bought, as the snapshot scored them: the RFM group ("lost": not in
    the last year, no ABC/XYZ), ABC and XYZ, and the last purchase's moment. Kept for the
    latest snapshot only (the one before is read once, for the movement, then deleted)."""

    __tablename__ = "segment_scores"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("segment_snapshots.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    rfm: Mapped[str] = mapped_column(String(16))
    abc: Mapped[str | None] = mapped_column(String(1))
    xyz: Mapped[str | None] = mapped_column(String(1))
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ChannelNote(Base):
    """What a channel adapter keeps between messages for whichever process needs it next: the
    numbered menu a person was shown last, a platform's id of an uploaded picture, the id of a
    message that later replies edit. Kept until ``expires_at`` (the housekeeping prunes)."""

    __tablename__ = "channel_notes"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class PublishedPicture(Base):
    """A picture served under signed links (bot/channels/media.py), by its content hash, kept
    at least as long as the links made for it work, so that any web process serves them."""

    __tablename__ = "published_pictures"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class WalletPass(Base):
    """A customer's card in a phone's wallet (bot/wallet/), Apple's and Google's alike: one
    per customer, made when they first ask for it. ``serial`` names it at Apple and Google;
    ``channel`` is the messenger its barcode opens, ``locale`` the language it is written in;
    ``updated_at`` is when its content last changed (Apple's "updated since" and
    Last-Modified); ``google_saved`` once the Google loyalty object exists."""

    __tablename__ = "wallet_passes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8))
    google_saved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WalletRegistration(Base):
    """An Apple device that holds a wallet pass and wants its updates (Apple's pass web
    service: register / unregister), with the token its pushes go to."""

    __tablename__ = "wallet_registrations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("wallet_passes.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(128))
    push_token: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("device_id", "pass_id"),
                      Index("ix_wallet_registrations_pass_id", "pass_id"))
