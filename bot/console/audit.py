"""The audit log: what an admin did that must be answerable later (an export of personal
data, points added or taken by hand, a birthday fixed). Written in the caller's transaction,
so an action and its record are kept or lost together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.storage.models import AuditEntry
from bot.storage.uow import UnitOfWork


async def record(uow: UnitOfWork, actor_identity_id: int | None, action: str,
                 customer_id: int | None = None, *, at: datetime, **details: Any) -> AuditEntry:
    """Add an entry made ``at`` (the injected clock's time: a handler passes ``ctx.now``);
    ``details`` must be JSON-serializable."""
    entry = AuditEntry(actor_identity_id=actor_identity_id, action=action,
                       customer_id=customer_id, details=details, created_at=at)
    return await uow.audit_log.add(entry)
