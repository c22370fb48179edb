"""The audit log as the consoles read it back. (Writing an entry: bot/console/audit.py.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AuditEntry, Identity


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest(self, action: str, limit: int) -> list[tuple[AuditEntry, Identity | None]]:
        """The latest entries of ``action``, newest first, each with who did it (None: the
        config file or a job)."""
        stmt = (select(AuditEntry, Identity)
                .outerjoin(Identity, Identity.id == AuditEntry.actor_identity_id)
                .where(AuditEntry.action == action)
                .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit))
        return [(entry, who) for entry, who in (await self.session.execute(stmt)).all()]

    async def add(self, entry: AuditEntry) -> AuditEntry:
        """Record the entry, flushed (it has its id)."""
        self.session.add(entry)
        await self.session.flush()
        return entry
