"""Sign-up: consent, phone, name, birthday, then the welcome bonus (once per phone number),
and the admins are asked about another card with the same phone (bot/loyalty/shared_phones.py).

The steps form a table; the current step is the first one not done, read from what is
stored (consent on the identity, then the customer's phone, name, registration). So a
restart, a second worker or a second /start continues exactly where the person stopped.
Nothing personal is stored before consent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.person import Member
from bot.core.replies import AskContact, Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.fallback import unsupported_text
from bot.handlers.menu import main_menu
from bot.handlers.referral import attribute_referral, invitation
from bot.handlers.rules import rules_text
from bot.loyalty import shared_phones
from bot.loyalty.birthday import parse_birthday
from bot.loyalty.cards import new_card_number
from bot.loyalty.phones import example_phone, normalize_phone
from bot.loyalty.welcome import give_welcome_bonus

router = Router()

MAX_NAME_LENGTH = 64
MAX_SOURCE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    done: Callable[[Context], bool]
    prompt: Callable[[Context], list[Reply]]
    accept: Callable[[Event, Context], Awaitable[list[Reply]]]


def joining(ctx: Context) -> Member:
    """The customer being signed up (the steps after the phone have one)."""
    if ctx.customer is None:
        raise RuntimeError("a sign-up step after the phone ran without a customer")
    return ctx.customer


# --- consent -----------------------------------------------------------------------------

def consent_prompt(ctx: Context, invited: str | None = None) -> list[Reply]:
    """The greeting, the rules and the consent; ``invited``: what a friend's link gives."""
    _ = ctx._
    i18n = ctx.services.i18n
    greeting = _("Hello! This is the loyalty program of {shop}.").format(shop=ctx.settings.shop.name)
    consent = _("To join, please agree to the processing of your personal data (phone, name, "
                "birthday) under our privacy policy.")
    return [Text(
        "\n\n".join(filter(None, [greeting, invited, rules_text(ctx), consent])),
        keyboard(
            [Button(_("✅ I agree, join"), "consent:yes")],
            [Button(_("Privacy policy"), url=ctx.settings.shop.policy_url)],
            [Button(i18n.language_name(code), f"lang:{code}") for code in i18n.available],
        ),
    )]


async def accept_consent(event: Event, ctx: Context) -> list[Reply]:
    if event.kind is EventKind.BUTTON and event.payload == "consent:yes":
        await ctx.uow.identities.give_consent(ctx.identity.id, ctx.now)
        ctx.reread()
        return phone_prompt(ctx)
    return [Text(ctx._("To join, press «I agree» below."))] + consent_prompt(
        ctx, await invitation(ctx))


# --- phone -------------------------------------------------------------------------------

def phone_prompt(ctx: Context) -> list[Reply]:
    _ = ctx._
    if ctx.channel.verified_contacts and ctx.channel.takes_typed_phone:
        text = _("Please share your phone number with the button below: it becomes your "
                 "card's account. You may type it instead, but a typed number is not "
                 "confirmed, so it can't link a card you have in another messenger.")
    elif ctx.channel.verified_contacts:
        text = _("Please share your phone number with the button below: it becomes your "
                 "card's account.")
    else:
        text = _("Please type your phone number, for example {example}.").format(
            example=example_phone(ctx.settings.shop.phone_region))
    return [AskContact(text, _("📱 Share my phone number"))]


async def accept_phone(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    region = ctx.settings.shop.phone_region
    if event.kind is EventKind.CONTACT and event.contact is not None:
        verified = event.contact.is_own
        if not verified and not ctx.channel.takes_typed_phone:
            return [Text(_("This contact is not yours. Please share your own number with the "
                           "button."))] + phone_prompt(ctx)
        phone = normalize_phone(event.contact.phone, region)  # not theirs: as if typed
    elif event.kind is EventKind.TEXT and ctx.channel.takes_typed_phone:
        phone, verified = normalize_phone(event.text, region), False
    elif event.kind is EventKind.TEXT:
        return [Text(_("Please use the «Share my phone number» button: it confirms the number "
                       "is yours."))] + phone_prompt(ctx)
    else:
        return phone_prompt(ctx)
    if phone is None:
        return [Text(_("That doesn't look like a phone number. Example: {example}.").format(
            example=example_phone(ctx.settings.shop.phone_region)))] + phone_prompt(ctx)
    return await attach_customer(ctx, phone, verified)


async def attach_customer(ctx: Context, phone: str, verified: bool) -> list[Reply]:
    """Link to the customer who owns this verified phone, or create a new one. A typed,
    unverified phone never links to anybody."""
    existing = await ctx.uow.customers.by_verified_phone(phone) if verified else None
    if existing is not None:
        await ctx.uow.identities.link_customer(ctx.identity.id, existing.id)
        ctx.reread()
        if ctx.is_member:
            return [main_menu(ctx, ctx._("Welcome back, {name}! This messenger is now linked to "
                                         "your card.").format(name=existing.name or ""))]
    else:
        customer_id = await ctx.uow.customers.open_card(
            new_card_number, phone=phone, verified=verified,
            consent_at=ctx.identity.consent_at or ctx.now, source=ctx.identity.source,
            locale=ctx.identity.locale, now=ctx.now)
        await ctx.uow.identities.link_customer(ctx.identity.id, customer_id)
        ctx.reread()
        await attribute_referral(ctx, joining(ctx))
    return [Text(ctx._("Thank you, the number is saved."))] + await next_step(ctx)


# --- name --------------------------------------------------------------------------------

def profile_name_of(ctx: Context) -> str | None:
    """The name the messenger profile shows, as a one-tap suggestion."""
    name = " ".join((ctx.user.display_name or "").split())
    return name[:MAX_NAME_LENGTH] or None


def name_prompt(ctx: Context) -> list[Reply]:
    profile_name = profile_name_of(ctx)
    buttons = keyboard([Button(ctx._("Use «{name}»").format(name=profile_name), "name:profile")]
                       if profile_name else [])
    return [Text(ctx._("How should we call you?"), buttons)]


async def accept_name(event: Event, ctx: Context) -> list[Reply]:
    if event.kind is EventKind.BUTTON and event.payload == "name:profile":
        name = profile_name_of(ctx) or ""
    elif event.kind is EventKind.TEXT:
        name = " ".join(event.text.split())
    else:
        return name_prompt(ctx)
    if not name or len(name) > MAX_NAME_LENGTH:
        return [Text(ctx.t.ngettext(
            "Please send your name, up to {limit} character.",
            "Please send your name, up to {limit} characters.",
            MAX_NAME_LENGTH).format(limit=MAX_NAME_LENGTH))] + name_prompt(ctx)
    await ctx.uow.customers.set_name(joining(ctx).id, name)
    ctx.reread()
    return await next_step(ctx)


# --- birthday ----------------------------------------------------------------------------

def birthday_prompt(ctx: Context) -> list[Reply]:
    _ = ctx._
    return [Text(
        _("When is your birthday? Send it as DD.MM.YYYY, or DD.MM if you'd rather keep the "
          "year to yourself. A gift is waiting for you on the day."),
        keyboard([Button(_("Skip"), "birthday:skip")]),
    )]


async def accept_birthday(event: Event, ctx: Context) -> list[Reply]:
    if event.kind is EventKind.BUTTON and event.payload == "birthday:skip":
        return await finish(ctx)
    if event.kind is not EventKind.TEXT:
        return birthday_prompt(ctx)
    try:
        birthday = parse_birthday(event.text, ctx.local(ctx.now).date())
    except ValueError:
        return [Text(ctx._("Please send the date as DD.MM.YYYY, for example 14.03.1990, or "
                           "DD.MM."))] + birthday_prompt(ctx)
    await ctx.uow.customers.set_birthday(joining(ctx).id, birthday.day, birthday.month,
                                         birthday.year)
    ctx.reread()
    return await finish(ctx)


async def finish(ctx: Context) -> list[Reply]:
    await ctx.uow.customers.register(joining(ctx).id, ctx.now)
    ctx.reread()
    customer, program = joining(ctx), ctx.settings.program
    lines = [ctx._("Welcome to the program, {name}!").format(name=customer.name)]
    if program.welcome_bonus > 0:
        lines.append(await welcome(ctx, customer))
    if await ask_about_twins(ctx, customer) and customer.phone_verified:
        lines.append(ctx._("Another card has this phone number typed in, not verified. If that "
                           "card is yours too, the shop will join the two cards after a check; "
                           "we will let you know."))
    lines.append(ctx._("Your card is in the menu: show its QR code at the checkout."))
    return [main_menu(ctx, "\n".join(lines))]


async def welcome(ctx: Context, customer: Member) -> str:
    """The welcome bonus, paid once per phone number, and what the welcome says of it."""
    program = ctx.settings.program
    if not await give_welcome_bonus(ctx.ledger, ctx.services.secret, customer.id, program):
        return ctx._("The welcome bonus is given once per phone number, and this number has "
                     "already had it.")
    return ctx._("Your welcome bonus: +{points}.").format(points=ctx.t.points(program.welcome_bonus))


async def ask_about_twins(ctx: Context, customer: Member) -> bool:
    """The admins are asked about each other card of this phone (one verified, one typed);
    True when there was one."""
    pairs = await shared_phones.twins_of(ctx.uow, customer.id, ctx.now)
    for pair in pairs:
        ctx.notify(await shared_phones.alert(ctx.uow, pair, ctx.now))
    return bool(pairs)


STEPS = (
    Step("consent", lambda ctx: ctx.identity.consent_at is not None, consent_prompt, accept_consent),
    Step("phone", lambda ctx: ctx.customer is not None, phone_prompt, accept_phone),
    Step("name", lambda ctx: bool(ctx.customer and ctx.customer.name), name_prompt, accept_name),
    Step("birthday", lambda ctx: ctx.is_member, birthday_prompt, accept_birthday),
)


def current_step(ctx: Context) -> Step:
    return next(step for step in STEPS if not step.done(ctx))


async def ask(step: Step, ctx: Context) -> list[Reply]:
    """The step's question; the consent says what a friend's invitation gives, if any."""
    if step.name == "consent":
        return consent_prompt(ctx, await invitation(ctx))
    return step.prompt(ctx)


async def next_step(ctx: Context) -> list[Reply]:
    """The next question, or the welcome when nothing is left to ask: the birthday of a
    customer enrolled at the till or imported is already known, and set once."""
    step = current_step(ctx)
    if step.name == "birthday" and ctx.customer is not None and ctx.customer.birth_month is not None:
        return await finish(ctx)
    return step.prompt(ctx)


# --- the gate ----------------------------------------------------------------------------

@router.gate
async def sign_up(event: Event, ctx: Context) -> list[Reply] | None:
    """Everyone who has not finished signing up talks to the sign-up flow."""
    if ctx.is_member:
        return None
    step = current_step(ctx)
    if event.kind is EventKind.BUTTON and (event.payload or "").startswith("lang:"):
        await ctx.choose_language((event.payload or "").removeprefix("lang:"))
        return await ask(step, ctx)
    if event.kind is EventKind.COMMAND:
        if event.command == "start":
            await remember_source(ctx, event.payload)
            if step.name != "consent":
                return [Text(ctx._("Let's continue where we stopped."))] + await next_step(ctx)
        return await ask(step, ctx)
    if event.kind is EventKind.UNSUPPORTED:
        return [Text(unsupported_text(ctx))] + await ask(step, ctx)
    return await step.accept(event, ctx)


async def remember_source(ctx: Context, payload: str | None) -> None:
    """The deep-link payload of the first /start: an acquisition tag or a referral code."""
    if payload and ctx.identity.source is None:
        await ctx.uow.identities.set_source(ctx.identity.id, payload[:MAX_SOURCE_LENGTH])
        ctx.reread()
