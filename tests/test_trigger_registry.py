"""A trigger is one module plus one line of the registry: whatever the registry lists has its
config section, its one name, its built-in message in both catalogs, its WhatsApp template
parameters (as the README suggests them), and shows on the owner's /settings and /triggers,
without any other list of triggers to keep in step. Every check below goes over the
registry, not over names typed here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cli import format_table
from bot.config import PLACEHOLDERS, Settings, Trigger, TriggersSettings
from bot.core.i18n import I18n, Translator
from bot.core.replies import Template, Text
from bot.loyalty.program_settings import TRIGGERS as CONFIGURED
from bot.loyalty.program_settings import allowed_placeholders
from bot.marketing.triggers import ORDER, TRIGGERS, Planned, trigger_name
from bot.marketing.triggers.base import Candidate, Picked
from bot.marketing.triggers.runner import renderer
from bot.storage.models import Customer, OutboxMessage, Purchase, TriggerSend
from tests.chat import OWNER, owner_settings, text_of

README = Path(__file__).resolve().parent.parent / "README.md"
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
ZONE = ZoneInfo("Europe/Moscow")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


def translators(settings: Settings) -> dict[str, Translator]:
    i18n = I18n(settings.locale.available, settings.locale.default)
    return {locale: i18n.translator(locale) for locale in ("ru", "en")}


def a_candidate(name: str, settings: Settings) -> Candidate:
    """Someone any trigger could pick: a holiday, a tier one purchase away and a purchase to
    rate come along, for the triggers that tell them."""
    person = Picked(7, "9000000000017", "Anna", 4, 1_200_00, 3, 14)
    purchase = Purchase(id=5, customer_id=7, amount=450_00,
                        occurred_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    tier = settings.program.tiers[-1]
    return Candidate(name, person, "episode", points=40, title="New Year", tier=tier,
                     purchase=purchase)


def test_the_registry_and_the_config_name_the_same_triggers_once():
    assert len(set(ORDER)) == len(ORDER) == len(TRIGGERS)
    assert set(ORDER) == set(CONFIGURED)
    for trigger in TRIGGERS:
        assert isinstance(trigger.config(TriggersSettings()), Trigger), trigger.name
        assert issubclass(TriggersSettings.model_fields[trigger.name].annotation, Trigger)  # type: ignore[arg-type]


def test_every_trigger_has_its_name_timing_and_built_in_message_in_both_languages(settings):
    t = translators(settings)
    for trigger in TRIGGERS:
        config = trigger.config(settings.triggers)
        assert trigger_name(trigger.name) == trigger.title != trigger.name
        for text in (trigger.title, trigger.about, trigger.timing(t["en"], config)):
            assert not CYRILLIC.search(text), (trigger.name, text)
        for text in (trigger_name(trigger.name, t["ru"].gettext), t["ru"].gettext(trigger.about),
                     trigger.timing(t["ru"], config)):
            assert CYRILLIC.search(text), (trigger.name, text)


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_every_trigger_renders_its_message_and_its_template_hint(settings, locale):
    t = translators(settings)[locale]
    for trigger in TRIGGERS:
        for points in (0, 40):  # without a gift and with one
            render = renderer(a_candidate(trigger.name, settings), settings, 520, points,
                              date(2026, 4, 1), ZONE)
            [text, template] = render(t)
            assert isinstance(text, Text) and isinstance(template, Template)
            assert text.text and "{" not in text.text, (trigger.name, text.text)
            assert bool(CYRILLIC.search(text.text)) == (locale == "ru"), (trigger.name, text.text)
            assert template.key == trigger.name
            assert [key for key, _ in template.params] == list(trigger.template_parameters)
            assert all(value for key, value in template.params if key != "holiday"), template.params


def test_a_shop_text_may_say_only_what_the_trigger_fills_in():
    for trigger in TRIGGERS:
        assert PLACEHOLDERS <= set(allowed_placeholders(trigger.name)) <= set(
            trigger.template_parameters), trigger.name


def test_the_preview_says_why_each_trigger_picked_its_customer():
    planned = [Planned(trigger.name, 7, "9000000000017", "2026-03-01", False, 0, "message")
               for trigger in TRIGGERS]
    rows = format_table(planned).splitlines()[1:]
    for trigger, row in zip(TRIGGERS, rows, strict=True):
        assert row.startswith(trigger.title) and f"{trigger.episode} 2026-03-01" in row, row


async def test_every_trigger_shows_on_the_settings_screen(app, chat):
    owner = chat(OWNER, language="ru")
    shown = text_of(await owner.send("/settings"))
    t = translators(app.settings)["ru"]
    for trigger in TRIGGERS:
        assert f"• {trigger_name(trigger.name, t.gettext)} (" in shown, (trigger.name, shown)


async def test_every_trigger_that_fired_shows_in_the_report(app, chat, clock):
    at = clock.now() - timedelta(days=1)
    await chat("42").sign_up()
    async with app.core.unit_of_work() as uow:
        customer_id = (await uow.session.execute(select(Customer.id))).scalar_one()
        for trigger in TRIGGERS:
            message = OutboxMessage(channel="telegram", external_id="42", category="marketing",
                                    payload=[], status="sent", attempts=1, not_before=at,
                                    created_at=at)
            uow.session.add(message)
            await uow.session.flush()
            uow.session.add(TriggerSend(customer_id=customer_id, trigger=trigger.name, episode="e",
                                        held_out=False, outbox_message_id=message.id,
                                        points_given=0, created_at=at))
        await uow.commit()
    report = text_of(await chat(OWNER, language="ru").send("/triggers"))
    t = translators(app.settings)["ru"]
    for trigger in TRIGGERS:
        assert f"«{trigger_name(trigger.name, t.gettext)}»" in report, (trigger.name, report)


def documented_templates() -> dict[str, set[str]]:
    """The README's «Templates to create» table: key → the parameters it says a template of
    that key can use."""
    table = README.read_text(encoding="utf-8").partition("Templates to create")[2]
    found: dict[str, set[str]] = {}
    rows = table.partition("\n|")[2].splitlines()[2:]  # after the header and its rule
    for line in rows:
        if not line.startswith("| `"):
            break
        keys, _, parameters = line.strip("|").split("|")
        for key in re.findall(r"`(\w+)`", keys):
            found[key] = set(re.findall(r"`(\w+)`", parameters))
    return found


def test_the_whatsapp_templates_the_readme_suggests_are_filled_in_by_their_trigger():
    documented = documented_templates()
    assert set(documented) == {*ORDER, "broadcast"}
    for trigger in TRIGGERS:
        assert documented[trigger.name] <= set(trigger.template_parameters), trigger.name
