"""The step of a person's multi-step flow, kept between events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, Identity


class Conversations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def save(self, identity: Identity, state: str | None, data: dict, now: datetime) -> None:
        if identity.conversation is None:
            identity.conversation = Conversation(
                identity_id=identity.id, state=state, data=data, updated_at=now)
        else:
            conversation = identity.conversation
            conversation.state, conversation.data, conversation.updated_at = state, data, now
