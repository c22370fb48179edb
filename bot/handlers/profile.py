"""The rest of the profile, asked after sign-up: e-mail and how the person heard about us.
Completing it the first time gives the profile bonus (once: ``profile_completed_at``);
later the same two questions just update the answers."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.keys import phone_fingerprint
from bot.core.person import Member
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import main_menu, menu_button

router = Router()

MAX_EMAIL_LENGTH = 254
MAX_SOURCE_LENGTH = 64
SOURCES = {
    "friends": N_("From friends"),
    "social": N_("Social networks"),
    "maps": N_("Maps or search"),
    "passing": N_("Walked past"),
}


def normalize_email(text: str) -> str | None:
    """A plausible address (one @, a dot inside the domain), its domain lowercased."""
    email = text.strip()
    if len(email) > MAX_EMAIL_LENGTH or email.count("@") != 1 or any(c.isspace() for c in email):
        return None
    local, domain = email.split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(labels):
        return None
    return f"{local}@{domain.lower()}"


def email_prompt(ctx: Context) -> list[Reply]:
    _ = ctx._
    customer, bonus = ctx.member, ctx.settings.program.profile_bonus
    lines = []
    if customer.profile_completed_at is None and bonus > 0:
        lines.append(_("Two short questions, and {points} are yours.").format(
            points=ctx.t.points(bonus)))
    lines.append(_("What is your e-mail?"))
    if customer.email:
        lines.append(_("Now: {email}").format(email=customer.email))
    ctx.state.go("profile.email")
    return [Text("\n".join(lines), keyboard([menu_button(ctx)]))]


def source_prompt(ctx: Context) -> list[Reply]:
    _ = ctx._
    rows = [[Button(_(label), f"profile:heard:{code}")] for code, label in SOURCES.items()]
    ctx.state.go("profile.heard")  # a typed answer counts too
    return [Text(_("How did you hear about us?"),
                 keyboard(*rows, [Button(_("Other"), "profile:heard:other")]))]


@router.command("profile")
@router.button("profile")
async def profile(event: Event, ctx: Context) -> list[Reply]:
    payload = (event.payload or "") if event.kind is EventKind.BUTTON else ""
    code = payload.removeprefix("profile:heard:") if payload.startswith("profile:heard:") else None
    if code == "other":
        ctx.state.go("profile.heard")
        return [Text(ctx._("Please write in a few words how you heard about us."))]
    if code in SOURCES:
        await ctx.uow.customers.set_heard_from(ctx.member.id, code)
        ctx.reread()
        return await finish(ctx)
    return email_prompt(ctx)


@router.state("profile.email")
async def take_email(event: Event, ctx: Context) -> list[Reply]:
    email = normalize_email(event.text)
    if email is None:
        return [Text(ctx._("That doesn't look like an e-mail address. Example: "
                           "name@example.com"))] + email_prompt(ctx)
    await ctx.uow.customers.set_email(ctx.member.id, email)
    ctx.reread()
    return source_prompt(ctx)


@router.state("profile.heard")
async def take_source(event: Event, ctx: Context) -> list[Reply]:
    answer = " ".join(event.text.split())[:MAX_SOURCE_LENGTH]
    if not answer:
        return source_prompt(ctx)
    await ctx.uow.customers.set_heard_from(ctx.member.id, answer)
    ctx.reread()
    return await finish(ctx)


async def finish(ctx: Context) -> list[Reply]:
    _ = ctx._
    customer, program = ctx.member, ctx.settings.program
    ctx.state.clear()
    if customer.email is None:  # a source button from an old message
        return email_prompt(ctx)
    if customer.profile_completed_at is not None:
        return [main_menu(ctx, _("Your profile is updated."))]
    await ctx.uow.customers.complete_profile(customer.id, ctx.now)
    ctx.reread()
    if program.profile_bonus > 0 and not await joined_before(ctx, customer):
        await ctx.ledger.earn(customer.id, program.profile_bonus, "profile",
                              timedelta(days=program.profile_bonus_days))
        return [main_menu(ctx, _("Thank you, your profile is complete: +{points}.").format(
            points=ctx.t.points(program.profile_bonus)))]
    return [main_menu(ctx, _("Thank you, your profile is complete."))]


async def joined_before(ctx: Context, customer: Member) -> bool:
    """This verified phone belonged to someone who deleted their data: no second profile
    bonus."""
    if not (customer.phone and customer.phone_verified):
        return False
    return await ctx.uow.customers.was_erased(phone_fingerprint(ctx.services.secret, customer.phone))
