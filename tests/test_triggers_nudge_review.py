"""The tier nudge (one purchase short of the next tier) and the review request (hours after
a purchase), with purchases made through the checkout service and the clock moved; and the
shop's own message texts per language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout
from bot.marketing.triggers import run_pass, scheduled_hourly_pass
from bot.scheduler import build_scheduler
from tests.test_triggers import customer_id, day, only, sends, signed_up  # noqa: F401 - only is a fixture
from tests.test_triggers_more import Phone, delivered, phone  # noqa: F401 - phone is a fixture

HOUR = timedelta(hours=1)


async def purchase(app, at, receipt: str, amount: int = 500_00) -> int:  # type: ignore[no-untyped-def]
    """A till purchase through the rules service, as of ``at``; returns its id."""
    customer = await customer_id(app)  # before the unit of work: SQLite has one connection
    async with app.core.unit_of_work() as uow:
        outlet = (await uow.outlets.default()).id
        result = await Checkout(uow, FrozenClock(at), app.core.services.settings.program).purchase(
            customer_id=customer, outlet_id=outlet, receipt_id=receipt, amount=amount)
        await uow.commit()
    return result.purchase_id


# --- tier nudge --------------------------------------------------------------------------------

async def test_one_purchase_short_of_gold_gets_one_nudge(app, chat, clock, only, phone):
    only("tier_nudge")
    await signed_up(chat)
    for n in range(3):
        await purchase(app, day("2026-03-02") + n * HOUR, f"r{n}")
    assert await run_pass(app.core, day("2026-03-03")) == []  # three purchases: two short of Gold
    await purchase(app, day("2026-03-03"), "r3")
    [nudge] = await run_pass(app.core, day("2026-03-04"))
    assert (nudge.trigger, nudge.episode, nudge.points) == ("tier_nudge", "gold:4", 0)
    assert await run_pass(app.core, day("2026-03-05")) == []  # once for this tier
    await delivered(app, clock, day("2026-03-04"))
    text = phone.text()
    assert text.startswith("Ivan Petrov, ещё одна покупка — и ваш уровень станет «Золото»")
    assert "5\xa0% от каждой покупки" in text and "до 11,25\xa0% покупки" in text  # Gold's share of 15 %


async def test_next_nudge_is_for_the_next_tier_and_none_at_the_top(app, chat, only, phone):
    only("tier_nudge")
    await signed_up(chat)
    for n in range(6):
        await purchase(app, day("2026-03-02") + n * HOUR, f"r{n}")
    [nudge] = await run_pass(app.core, day("2026-03-03"))
    assert nudge.episode == "platinum:6"
    await purchase(app, day("2026-03-03"), "r6")
    assert await run_pass(app.core, day("2026-03-10")) == []  # Platinum: nothing above


async def test_no_nudge_before_the_first_purchase_or_when_tiers_count_spend(
        app, chat, only, settings, phone):
    only("tier_nudge")
    await signed_up(chat)
    assert await run_pass(app.core, day("2026-03-03")) == []  # a new member is not nagged
    for n in range(4):
        await purchase(app, day("2026-03-02") + n * HOUR, f"r{n}")
    settings.program.tier_basis = "spend"
    assert await run_pass(app.core, day("2026-03-03")) == []


# --- review request ----------------------------------------------------------------------------

async def test_review_request_three_hours_after_an_unrated_purchase(app, chat, clock, only, phone):
    only("review_request")
    ivan = await signed_up(chat)
    bought = day("2026-03-02")
    purchase_id = await purchase(app, bought, "r1")
    assert await run_pass(app.core, bought + 2 * HOUR) == []
    [request] = await run_pass(app.core, bought + 3 * HOUR)
    assert (request.trigger, request.episode) == ("review_request", str(purchase_id))
    assert await run_pass(app.core, bought + 4 * HOUR) == []  # asked once
    await delivered(app, clock, bought + 3 * HOUR)
    assert phone.text() == "Как вам визит 2 марта 2026\u202fг. (500,00\xa0₽)? Оцените от 1 до 5:"
    assert phone.payloads() == [f"review:{purchase_id}:{n}" for n in range(1, 6)]
    answer = await ivan.press(f"review:{purchase_id}:5")  # the rating goes to the feedback flow
    assert "Спасибо" in answer[0].text


async def test_rated_refunded_and_old_purchases_are_not_asked_about(app, chat, only, phone):
    only("review_request")
    ivan = await signed_up(chat)
    rated = await purchase(app, day("2026-03-02"), "r1")
    await ivan.press(f"review:{rated}:4")
    assert await run_pass(app.core, day("2026-03-02") + 3 * HOUR) == []
    await purchase(app, day("2026-03-03"), "r2")
    assert await run_pass(app.core, day("2026-03-06")) == []  # three days later: too late
    assert await sends(app) == []


async def test_the_hourly_job_runs_review_requests_alone(app, chat, clock, only, phone):
    only("review_request", "win_back_30")
    await signed_up(chat)
    await purchase(app, day("2026-03-02"), "r1")
    clock.set(day("2026-03-02") + 3 * HOUR)
    await scheduled_hourly_pass(app.core)
    assert [s.trigger for s in await sends(app)] == ["review_request"]
    jobs = {job.id: job for job in build_scheduler(app.core).get_jobs()}
    assert str(jobs["hourly-triggers"].trigger) == "cron[minute='35']"


# --- the shop's own texts ------------------------------------------------------------------------

async def test_own_text_per_language_with_placeholders(app, chat, clock, only, settings, phone):
    only("tier_nudge")
    settings.triggers.tier_nudge.text = {"en": "{name}: {tier} is one purchase away"}
    await signed_up(chat)
    for n in range(4):
        await purchase(app, day("2026-03-02") + n * HOUR, f"r{n}")
    await run_pass(app.core, day("2026-03-03"))
    await delivered(app, clock, day("2026-03-03"))
    assert "ваш уровень станет «Золото»" in phone.text()  # no Russian text: the built-in one
    settings.triggers.tier_nudge.text["ru"] = "{name}, до уровня {tier} — одна покупка."
    await purchase(app, day("2026-03-04"), "r4")
    await purchase(app, day("2026-03-04") + HOUR, "r5")
    await run_pass(app.core, day("2026-03-05"))
    await delivered(app, clock, day("2026-03-05"))
    assert phone.text() == "Ivan Petrov, до уровня Платина — одна покупка."


def test_unknown_placeholders_and_stray_braces_are_config_errors():
    with pytest.raises(ValidationError,
                       match=r"triggers.win_back_30.text.ru: unknown placeholder\(s\) \{tier\}"):
        Settings(triggers={"win_back_30": {"text": {"ru": "{name}, {tier}"}}})
    with pytest.raises(ValidationError, match=r"write \{\{ and \}\} for braces"):
        Settings(triggers={"birthday": {"text": {"en": "Happy {birthday"}}})
    assert Settings(triggers={"holidays": {"text": {"en": "{holiday}: {points}, {{50%}}"}}})
