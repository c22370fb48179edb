"""The owner's main screens read as words in Russian and in English: the names of the
triggers, the segments and the settings, never the program's codes for them, whatever the
data behind them (every trigger fired, a broadcast sent, a cashier hired)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Settings
from bot.core.replies import Picture, Reply, Text
from bot.loyalty.program_settings import TRIGGERS
from bot.marketing.triggers import ORDER
from bot.marketing.triggers import TRIGGERS as REGISTERED
from bot.storage.models import (
    Broadcast,
    BroadcastRecipient,
    Identity,
    OutboxMessage,
    Staff,
    TriggerSend,
)
from tests.chat import OWNER, owner_settings, text_of
from tests.texts import raw_keys

SCREENS = ("/stats", "/triggers", "/segments", "/broadcast report", "/staff", "/settings")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


def everything_read(replies: list[Reply]) -> str:
    """The texts and the buttons' labels."""
    labels = [button.label for reply in replies if isinstance(reply, (Text, Picture))
              for row in reply.buttons for button in row]
    return "\n".join([text_of(replies), *labels])


async def a_month_of_the_program(app, chat, clock) -> None:  # type: ignore[no-untyped-def]
    """Two members (one of them a cashier), every trigger sent to them, a broadcast."""
    await chat("42").sign_up(phone="+79001234567")
    await chat("43").sign_up(phone="+79001234568")
    at = clock.now() - timedelta(days=2)
    async with app.core.unit_of_work() as uow:
        customer_ids = [identity.customer_id for identity in await uow.session.run_sync(
            lambda session: session.query(Identity).filter(Identity.external_id.in_(["42", "43"]))
            .order_by(Identity.external_id).all())]
        cashier = (await uow.session.run_sync(
            lambda session: session.query(Identity).filter_by(external_id="43").one()))
        uow.session.add(Staff(identity_id=cashier.id, role="cashier", created_at=at))
        broadcast = Broadcast(status="done", text="Sale!", segment="all", audience=2,
                              created_at=at, confirmed_at=at, enqueued_at=at, finished_at=at)
        uow.session.add(broadcast)
        await uow.session.flush()
        for n, trigger in enumerate(ORDER):
            message = OutboxMessage(channel="telegram", external_id="42", category="marketing",
                                    payload=[], status="sent", attempts=1, not_before=at,
                                    created_at=at)
            uow.session.add(message)
            await uow.session.flush()
            uow.session.add(TriggerSend(customer_id=customer_ids[n % 2], trigger=trigger,
                                        episode=trigger, held_out=False, outbox_message_id=message.id,
                                        points_given=0, created_at=at))
            if n < 2:
                uow.session.add(BroadcastRecipient(broadcast_id=broadcast.id,
                                                   customer_id=customer_ids[n],
                                                   outbox_message_id=message.id,
                                                   created_at=at, written_at=at))
        await uow.commit()


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_the_owner_reads_words_not_codes(app, chat, clock, language):
    await a_month_of_the_program(app, chat, clock)
    owner = chat(OWNER, language=language)
    for screen in SCREENS:
        read = everything_read(await owner.send(screen))
        assert read and raw_keys(read) == [], (screen, read)
    triggers = text_of(await owner.send("/triggers"))
    names = {"ru": ["«Одна покупка до нового уровня»", "«Просьба оценить покупку»",
                    "«Сводка баланса»", "«Праздники»", "«Возврат, 1-й этап»"],
             "en": ["«One purchase to the next tier»", "«Review request»", "«Balance digest»",
                    "«Holidays»", "«Win-back, 1st stage»"]}[language]
    assert all(name in triggers for name in names), triggers
    stats = text_of(await owner.send("/stats"))
    assert {"ru": "в файле настроек нет расходов на удержание",
            "en": "the config file has no money spent on retention"}[language] in stats


async def test_a_code_in_a_reply_would_be_caught(app, chat, clock):
    """The check above reads the replies the owner gets (an unknown trigger's code, spelt
    out as words, would otherwise show)."""
    await a_month_of_the_program(app, chat, clock)
    async with app.core.unit_of_work() as uow:
        await uow.session.run_sync(lambda session: session.query(TriggerSend).update(
            {TriggerSend.trigger: "old_trigger"}))
        await uow.commit()
    text = text_of(await chat(OWNER).send("/triggers"))
    assert "«Old trigger»" in text and raw_keys(text) == []
    assert raw_keys(text.replace("Old trigger", "old_trigger")) == ["old_trigger"]


def test_every_trigger_has_its_one_name():
    assert set(ORDER) == set(TRIGGERS) and all(t.title for t in REGISTERED)
