"""Repositories: the database's queries, by name, one module per aggregate. Reach them
through the unit of work (``uow.customers``, ``uow.purchases``, …; bot/storage/uow.py).

One way to the database, everywhere:

- **Row-level work goes through a repository.** Finding, locking, adding or updating a
  customer, their lots and operations, a purchase, an outbox message, a changed rule, an
  audit entry, a processed event: a method named after what it answers
  (``reviews.latest_unrated``, ``outbox_messages.due``, ``identities.forget_strangers``)
  that returns ORM rows, plain values or small named tuples. Repositories flush when they
  need ids, lock where the method says so, and never commit: the unit of work commits, in
  one place, and flushes for a service that needs its writes seen (``uow.flush``). The day
  book's whole-book work goes through ``uow.book`` (ensure, rebuild, repair).
- **The hot paths skip the ORM's unit of work.** What every purchase and every /balance
  runs (the ledger's rows, the purchase, the customer's counts, the event's claim and
  last-seen moment, the standing and balance reads) are statements built once and run
  with ``session.plain`` on the transaction's connection. A repository that writes rows
  the day book counts that way tells the book itself, in the same method
  (``Lots.record``, ``Purchases.add``); everything else still goes through the session,
  which tells the book and refuses bulk writes that would bypass it.
- **Set-based reads and reports over many rows are query modules.** The console's figures
  (bot/console/stats.py), the export's pages (console/export.py), the segments, their
  snapshot and the triggers' report (marketing/segments.py, segment_snapshot.py,
  reports.py), a broadcast's audience, recipients and report (marketing/broadcasts.py), and
  each trigger's candidates (marketing/triggers/base.py and the trigger modules) build their
  own SQL where the feature lives: the query is the feature. They are listed by name in
  tests/test_layers.py, and nothing else outside bot/storage/ imports SQLAlchemy or touches
  ``uow.session`` (the test fails when something does). Types the layers above name (the
  session factory, the engine, the errors to handle) come from bot/storage/database.py and
  bot/storage/errors.py."""

from bot.storage.repositories.app_secrets import Secrets
from bot.storage.repositories.audit_log import AuditLog
from bot.storage.repositories.broadcasts import Broadcasts
from bot.storage.repositories.channel_notes import ChannelNotes
from bot.storage.repositories.conversations import Conversations
from bot.storage.repositories.customers import Customers, Friends
from bot.storage.repositories.events import ProcessedEvents
from bot.storage.repositories.identities import LAST_SEEN_RESOLUTION, Identities
from bot.storage.repositories.lots import Lots
from bot.storage.repositories.outbox import OutboxMessages
from bot.storage.repositories.outlets import Outlets
from bot.storage.repositories.pace import PaceRows
from bot.storage.repositories.platform_ids import PlatformIds
from bot.storage.repositories.published_pictures import PublishedPictures
from bot.storage.repositories.purchases import Purchases
from bot.storage.repositories.recipients import Recipient, Recipients
from bot.storage.repositories.reviews import Reviews
from bot.storage.repositories.roster import Roster, StaffEntry, StaffLanguages
from bot.storage.repositories.rule_changes import RuleChanges
from bot.storage.repositories.shared_phones import SharedPhones
from bot.storage.repositories.staff import StaffMembers
from bot.storage.repositories.trigger_sends import TriggerSends
from bot.storage.repositories.wallet_passes import WalletPasses
from bot.storage.repositories.web_downloads import WebDownloads
from bot.storage.repositories.web_messages import ShownMessage, WebMessages

__all__ = [
    "LAST_SEEN_RESOLUTION", "AuditLog", "Broadcasts", "ChannelNotes", "Conversations", "Customers",
    "Friends", "Identities", "Lots", "OutboxMessages", "Outlets", "PaceRows", "PlatformIds",
    "ProcessedEvents", "PublishedPictures", "Purchases",
    "Recipient", "Recipients", "Reviews",
    "Roster", "RuleChanges", "Secrets", "SharedPhones", "ShownMessage", "StaffEntry", "StaffLanguages",
    "StaffMembers", "TriggerSends", "WalletPasses", "WebDownloads", "WebMessages",
]
