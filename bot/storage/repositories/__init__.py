"""Repositories: the database's queries, by name, one module per aggregate. Reach them
through the unit of work (``uow.customers``, ``uow.purchases``, …; bot/storage/uow.py).

The convention: a method is named after what it answers (``reviews.latest_unrated``,
``identities.any_reachable``) and returns ORM rows or small named tuples; repositories
flush when they need ids, lock where the method says so, and never commit: the unit of
work commits, in one place. Handlers, channels and the POS API reach the database only
through them (tests/test_layers.py checks that)."""

from bot.storage.repositories.app_secrets import Secrets
from bot.storage.repositories.audit_log import AuditLog
from bot.storage.repositories.broadcasts import Broadcasts
from bot.storage.repositories.conversations import Conversations
from bot.storage.repositories.customers import Customers, Friends
from bot.storage.repositories.events import ProcessedEvents
from bot.storage.repositories.identities import LAST_SEEN_RESOLUTION, Identities
from bot.storage.repositories.lots import Lots
from bot.storage.repositories.outbox import OutboxMessages
from bot.storage.repositories.outlets import Outlets
from bot.storage.repositories.platform_ids import PlatformIds
from bot.storage.repositories.purchases import Purchases
from bot.storage.repositories.recipients import Recipient, Recipients
from bot.storage.repositories.reviews import Reviews
from bot.storage.repositories.roster import Roster, StaffEntry, StaffLanguages
from bot.storage.repositories.rule_changes import RuleChanges
from bot.storage.repositories.shared_phones import SharedPhones
from bot.storage.repositories.staff import StaffMembers
from bot.storage.repositories.web_messages import ShownMessage, WebMessages

__all__ = [
    "LAST_SEEN_RESOLUTION", "AuditLog", "Broadcasts", "Conversations", "Customers", "Friends",
    "Identities", "Lots", "OutboxMessages", "Outlets", "PlatformIds", "ProcessedEvents", "Purchases",
    "Recipient", "Recipients", "Reviews",
    "Roster", "RuleChanges", "Secrets", "SharedPhones", "ShownMessage", "StaffEntry", "StaffLanguages",
    "StaffMembers", "WebMessages",
]
