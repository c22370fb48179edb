"""What a handler reads of the person and their card (bot/core/person.py) mirrors the rows the
core loaded: every field of ``Member`` is the customer's column of the same name, every field
of ``Person`` the identity's (with its staff role), read as they are. And an assignment, the
way handlers used to change the card, fails loudly instead of silently not being saved."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.person import Member, Person, StaffPost, member_of, person_of
from bot.storage.models import Customer, Identity, Staff

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_customer() -> Customer:
    """A row with every column the card shows set, each to a value of its own."""
    return Customer(
        id=7, card_number="1234567890123452", phone="+79001234567", phone_verified=True,
        name="Анна", birth_day=14, birth_month=3, birth_year=1990, locale="en", source="ads",
        consent_at=T0, registered_at=T0 + timedelta(minutes=1), purchase_count=5,
        total_spent=123_45, email="anna@example.com", heard_from="friends",
        profile_completed_at=T0 + timedelta(days=1), referral_code="abcd2345", referred_by=3,
        notify_promotions=False, notify_reminders=True, notify_digest=False,
        preferred_channel="viber", blocked_at=T0 + timedelta(days=2),
        created_at=T0 - timedelta(days=1))


def test_every_field_of_the_card_is_the_customers_column_of_that_name():
    columns = set(Customer.__table__.columns.keys())
    names = [field.name for field in dataclasses.fields(Member)]
    assert set(names) <= columns
    customer = a_customer()
    member = member_of(customer)
    assert {name: getattr(member, name) for name in names} == {
        name: getattr(customer, name) for name in names}


def test_a_card_not_flushed_yet_has_its_messages_on():
    member = member_of(Customer(id=1, card_number="1", phone="+7", consent_at=T0))
    assert (member.notify_promotions, member.notify_reminders, member.notify_digest) == (
        True, True, True)
    assert (member.phone_verified, member.purchase_count, member.total_spent) == (False, 0, 0)


def test_the_person_is_the_identity_with_its_staff_role():
    identity = Identity(id=4, channel="telegram", external_id="42", locale="ru", consent_at=T0,
                        source="ref-abcd2345")
    identity.staff = Staff(identity_id=4, role="cashier", outlet_id=2, blocked_at=T0)
    person = person_of(identity)
    assert person == Person(id=4, channel="telegram", external_id="42", locale="ru",
                            consent_at=T0, source="ref-abcd2345",
                            staff=StaffPost(role="cashier", outlet_id=2, blocked_at=T0))
    assert {field.name for field in dataclasses.fields(Person)} - {"staff"} <= set(
        Identity.__table__.columns.keys())


def test_a_person_without_a_role_has_no_staff_post():
    assert person_of(Identity(id=1, channel="web", external_id="x")).staff is None


def test_a_handler_cannot_change_the_card_or_the_person_by_assignment():
    member, person = member_of(a_customer()), person_of(Identity(id=1, channel="web",
                                                                  external_id="x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.email = "new@example.com"  # the point: it is refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        person.consent_at = T0
