"""The owner's console, customers (admins only): /customer <phone | card number | name>,
or the console's «Customers» and then the same typed, finds someone and shows their card;
from it an admin adds or takes points with a reason, or fixes the birthday. Every change is
confirmed, written with an audit entry, and a change of points is told to the customer.

States: ``customer_search`` (the search is typed; not a ``customer.`` state, so any
button abandons it); ``customer.amount`` {customer_id, op, draft} → ``customer.reason``
{…, amount} → ``customer.confirm`` {…, reason}; ``customer.birthday`` {customer_id, draft}
→ ``customer.birthday_ok`` {…, day, month, year}. The draft id is made when a flow starts
and travels in its buttons: a button of another draft, or of a flow already finished,
changes nothing. A confirmed change of points is recorded with the reference
``manual:<draft>`` («Confirm» names the customer and the draft), so a second tap finds it
among the customer's operations and records nothing more.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id, whole_number
from bot.delivery.notify import Notification
from bot.handlers.balance import OTHER, REASONS
from bot.handlers.blocks import card_block_button
from bot.handlers.checkout import money
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.birthday import parse_birthday
from bot.loyalty.cards import format_card_number, normalize_card_number
from bot.loyalty.ledger import InsufficientPoints, burning_days
from bot.loyalty.people import channel_name
from bot.loyalty.phones import normalize_phone
from bot.loyalty.tiers import current_tier, tier_label
from bot.storage.views import CustomerView, OperationView

router = Router()

MAX_POINTS = 100_000  # one manual change at most
REASON_LENGTH = range(3, 201)
SHOWN_MATCHES = 10
SOON_LOTS = 5  # days
HISTORY = 10
FLOW = "customer."  # its states; the staff gate keeps them for the flow's buttons
router.gate(staff_only(router, ADMIN))


# --- finding ------------------------------------------------------------------------------

def called(customer: CustomerView) -> str:
    return customer.name or format_card_number(customer.card_number)


async def find(ctx: Context, typed: str) -> Sequence[CustomerView]:
    """By card number (check digit right), by phone (any format the shop's region reads),
    else by a part of the name, case-insensitive; at most SHOWN_MATCHES + 1 (so we know
    there are more)."""
    card = normalize_card_number(typed)
    if card is not None:
        found = await ctx.uow.customers.by_card_number(card)
        return [found] if found else []
    phone = normalize_phone(typed, ctx.settings.shop.phone_region)
    if phone is not None:
        return await ctx.uow.customers.with_phone(phone, SHOWN_MATCHES + 1)
    return await ctx.uow.customers.named_like(typed, SHOWN_MATCHES + 1)


@router.command("customer")
async def search(event: Event, ctx: Context) -> list[Reply]:
    typed = " ".join(event.argument.split())
    if not typed:
        return [Text(ctx._("Send /customer and a phone number, a card number or a part of the "
                           "name, e.g. /customer +79001234567 or /customer Ivan."))]
    return await results(ctx, typed)


@router.button("cu.find")
async def ask_whom(event: Event, ctx: Context) -> list[Reply]:
    """The console's «Customers»: the next message is the search."""
    ctx.state.go("customer_search")
    return [Text(ctx._("Whom to find? Type a phone number, a card number or a part of the "
                       "name."))]


@router.state("customer_search")
async def search_typed(event: Event, ctx: Context) -> list[Reply]:
    ctx.state.clear()
    return await results(ctx, " ".join(event.text.split()))


async def results(ctx: Context, typed: str) -> list[Reply]:
    """The card of the one customer found, or the list to pick from, or why none."""
    _ = ctx._
    again = keyboard([Button(_("🔎 Search again"), "cu.find")])
    if len(typed) < 2:
        return [Text(_("Please type at least two letters of the name."), again)]
    found = await find(ctx, typed[:64])
    if not found:
        return [Text(_("Nobody found for «{query}». Check the number, or try a part of the "
                       "name.").format(query=typed), again)]
    if len(found) == 1:
        return await card_screen(ctx, found[0])
    shown = found[:SHOWN_MATCHES]
    head = _("Found {count}; pick one:").format(count=len(shown))
    if len(found) > SHOWN_MATCHES:
        head = _("More than {count} found; here are the first. Refine the search to narrow "
                 "it down.").format(count=SHOWN_MATCHES)
    rows = [[Button(f"{called(c)} · {format_card_number(c.card_number)}", f"cu.show:{c.id}")]
            for c in shown]
    return [Text(head, keyboard(*rows))]


@router.button("cu.show")
async def show(event: Event, ctx: Context) -> list[Reply]:
    customer = await customer_of(ctx, event)
    return [gone(ctx)] if customer is None else await card_screen(ctx, customer)


async def customer_of(ctx: Context, event: Event) -> CustomerView | None:
    """The customer a button names (``cu.x:<id>``), if they are still in the program."""
    customer_id = row_id((event.payload or "").partition(":")[2])
    return await ctx.uow.customers.get(customer_id) if customer_id is not None else None


def gone(ctx: Context) -> Text:
    return Text(ctx._("This customer is no longer in the program; nothing was changed."))


def stale(ctx: Context) -> list[Reply]:
    return [Text(ctx._("This is no longer valid; nothing was changed. Send /customer to start "
                       "again."))]


# --- the card -----------------------------------------------------------------------------

def dd_mm(day: int, month: int, year: int | None) -> str:
    return f"{day:02d}.{month:02d}" + (f".{year}" if year else "")


def birthday_text(ctx: Context, customer: CustomerView) -> str:
    if customer.birth_day is None or customer.birth_month is None:
        return ctx._("not given")
    return dd_mm(customer.birth_day, customer.birth_month, customer.birth_year)


def operation_text(ctx: Context, operation: OperationView) -> str:
    sign = "+" if operation.amount > 0 else "−"
    line = ctx._("• {date} {sign}{points} {reason}").format(
        date=ctx.t.date(ctx.local(operation.created_at).date()), sign=sign,
        points=ctx.t.number(abs(operation.amount)),
        reason=ctx._(REASONS.get(operation.reason, OTHER)) if operation.reason != "manual"
        else ctx._("by hand"))
    return f"{line} — {operation.note}" if operation.note else line


def phone_text(ctx: Context, customer: CustomerView) -> str:
    if customer.phone is None:
        return ctx._("not given")
    if customer.phone_verified:
        return customer.phone
    return ctx._("{phone} (not verified)").format(phone=customer.phone)


async def card_screen(ctx: Context, customer: CustomerView, head: str | None = None) -> list[Reply]:
    _ = ctx._
    summary = await ctx.ledger.summary(customer.id, HISTORY)
    soonest = burning_days(await ctx.uow.lots.live_lots(customer.id, ctx.now),
                           ctx.services.timezone)[:SOON_LOTS]
    channels = await ctx.uow.identities.channels_of(customer.id)
    tier = current_tier(customer.purchase_count, ctx.settings.program, customer.total_spent)
    lines = [head] if head else []
    if customer.blocked_at is not None:
        lines.append(_("⛔ Blocked since {date}: the card neither earns nor spends points.").format(
            date=ctx.t.date(ctx.local(customer.blocked_at).date())))
    lines += [
        _("👤 {name}").format(name=customer.name or _("(no name)")),
        _("Card: {card}").format(card=format_card_number(customer.card_number)),
        _("Phone: {phone}").format(phone=phone_text(ctx, customer)),
        _("Tier: {tier}").format(tier=tier_label(tier, _)),
        _("Balance: {points} available, {pending} pending").format(
            points=ctx.t.points(summary.available), pending=ctx.t.number(summary.pending)),
        _("Purchases: {count}, spent {amount}").format(
            count=customer.purchase_count, amount=money(ctx, customer.total_spent)),
        _("Birthday: {birthday}").format(birthday=birthday_text(ctx, customer)),
        _("Channels: {channels}").format(channels=", ".join(
            channel_name(_, c) for c in channels) or "—"),
        _("Registered: {date}").format(date=ctx.t.date(ctx.local(customer.registered_at).date())
                                       if customer.registered_at else _("not finished")),
    ]
    if soonest:
        lines += ["", _("Burn soonest:")]
        lines += [_("• {points} on {date}").format(points=ctx.t.points(burn.points),
                                                   date=ctx.t.date(burn.on))
                  for burn in soonest]
    lines += ["", _("Last operations:") if summary.recent else _("No operations yet.")]
    lines += [operation_text(ctx, operation) for operation in summary.recent]
    buttons = keyboard([Button(_("➕ Add points"), f"cu.add:{customer.id}"),
                        Button(_("➖ Take points"), f"cu.take:{customer.id}")],
                       [Button(_("🎂 Fix birthday"), f"cu.bday:{customer.id}"),
                        card_block_button(ctx, customer.id, customer.blocked_at is not None)])
    return [Text("\n".join(lines), buttons)]


# --- points by hand -----------------------------------------------------------------------

def cancel_button(ctx: Context, draft: str) -> Button:
    return Button(ctx._("✖ Cancel"), f"cu.no:{draft}")


def amount_prompt(ctx: Context, customer: CustomerView, op: str, available: int) -> str:
    if op == "add":
        return ctx._("How many points to add to {who}? A whole number from 1 to {max}.").format(
            who=called(customer), max=ctx.t.number(MAX_POINTS))
    return ctx._("How many points to take from {who}? Available: {points}.").format(
        who=called(customer), points=ctx.t.points(available))


@router.button("cu.add", "cu.take")
async def start_points(event: Event, ctx: Context) -> list[Reply]:
    customer = await customer_of(ctx, event)
    if customer is None:
        return [gone(ctx)]
    op = "add" if (event.payload or "").startswith("cu.add") else "take"
    available = await ctx.ledger.balance(customer.id)
    if op == "take" and available == 0:
        return [Text(ctx._("{who} has no points to take.").format(who=called(customer)))]
    draft = secrets.token_hex(4)
    ctx.state.go("customer.amount", customer_id=customer.id, op=op, draft=draft)
    return [Text(amount_prompt(ctx, customer, op, available),
                 keyboard([cancel_button(ctx, draft)]))]


@router.state("customer.amount")
async def take_amount(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, ctx.state.data
    customer = await ctx.uow.customers.get(data["customer_id"])
    if customer is None:
        ctx.state.clear()
        return [gone(ctx)]
    typed = "".join(event.text.split())  # "1 000" too
    amount = whole_number(typed) or 0
    cancel = keyboard([cancel_button(ctx, data["draft"])])
    if not 1 <= amount <= MAX_POINTS:
        return [Text(_("Please send a whole number of points from 1 to {max}.").format(
            max=ctx.t.number(MAX_POINTS)), cancel)]
    if data["op"] == "take":
        available = await ctx.ledger.balance(customer.id)
        if amount > available:
            return [Text(_("{who} has only {points} available; send at most that.").format(
                who=called(customer), points=ctx.t.points(available)), cancel)]
    ctx.state.go("customer.reason", **data, amount=amount)
    return [Text(_("The reason, in a few words (3 to 200 characters). It stays in the history; "
                   "the customer is not shown it."), cancel)]


@router.state("customer.reason")
async def take_reason(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, ctx.state.data
    reason = " ".join(event.text.split())
    if len(reason) not in REASON_LENGTH:
        return [Text(_("Please write the reason in 3 to 200 characters."),
                     keyboard([cancel_button(ctx, data["draft"])]))]
    customer = await ctx.uow.customers.get(data["customer_id"])
    if customer is None:
        ctx.state.clear()
        return [gone(ctx)]
    ctx.state.go("customer.confirm", **data, reason=reason)
    balance = await ctx.ledger.balance(customer.id)
    signed = data["amount"] if data["op"] == "add" else -data["amount"]
    question = (_("Add {points} to {who} (card {card})?") if signed > 0 else
                _("Take {points} from {who} (card {card})?")).format(
        points=ctx.t.points(data["amount"]), who=called(customer),
        card=format_card_number(customer.card_number))
    lines = [question, _("Reason: {reason}").format(reason=reason),
             _("Balance: {before} → {after}").format(
                 before=ctx.t.number(balance), after=ctx.t.number(balance + signed))]
    confirm = Button(_("✅ Confirm"), f"cu.ok:{customer.id}:{data['draft']}")
    return [Text("\n".join(lines), keyboard([confirm, cancel_button(ctx, data["draft"])]))]


@router.button("cu.ok")
async def confirm_points(event: Event, ctx: Context) -> list[Reply]:
    """``cu.ok:<customer_id>:<draft>``."""
    typed, _sep, draft = (event.payload or "").partition(":")[2].partition(":")
    reference, customer_id = f"manual:{draft}", row_id(typed)
    if customer_id is not None and draft and await ctx.uow.lots.has_operation(
            customer_id, reference):  # a second tap
        return [Text(ctx._("This change is already recorded."))]
    data = ctx.state.data
    if (ctx.state.name != "customer.confirm" or data.get("draft") != draft
            or data.get("customer_id") != customer_id):
        return stale(ctx)
    ctx.state.clear()
    customer = await ctx.uow.customers.lock(data["customer_id"])
    if customer is None:
        return [gone(ctx)]
    signed = data["amount"] if data["op"] == "add" else -data["amount"]
    lifetime = timedelta(days=ctx.settings.program.purchase_points_days)
    try:
        operation_id = await ctx.ledger.adjust(customer.id, signed, note=data["reason"],
                                               actor=ctx.identity.id, lifetime=lifetime,
                                               reference=reference)
    except InsufficientPoints as error:
        return [Text(ctx._("The balance has changed: only {points} available now. Nothing was "
                           "taken.").format(points=ctx.t.points(error.available)))]
    balance = await ctx.ledger.balance(customer.id)
    await audit.record(ctx.uow, ctx.identity.id, "points", customer.id, at=ctx.now,
                       points=signed, reason=data["reason"], operation_id=operation_id,
                       balance_after=balance)
    ctx.notify(points_notice(customer.id, signed, balance))
    return await card_screen(ctx, customer, ctx._("✅ Done: {sign}{points}. The customer is "
                                                  "told.").format(
        sign="+" if signed > 0 else "−", points=ctx.t.points(abs(signed))))


def points_notice(customer_id: int, points: int, balance: int) -> Notification:
    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        change = (_("You were given {points}.") if points > 0 else
                  _("{points} were taken from your balance.")).format(points=t.points(abs(points)))
        return [Text(change + " " + _("Balance: {points}.").format(points=t.points(balance)))]

    return Notification(render, customer_id=customer_id)


@router.button("cu.no")
async def cancel(event: Event, ctx: Context) -> list[Reply]:
    draft = (event.payload or "").partition(":")[2]
    if (ctx.state.name or "").startswith(FLOW) and ctx.state.data.get("draft") == draft:
        ctx.state.clear()
    return [Text(ctx._("Cancelled; nothing was changed."))]


# --- the birthday -------------------------------------------------------------------------

@router.button("cu.bday")
async def start_birthday(event: Event, ctx: Context) -> list[Reply]:
    customer = await customer_of(ctx, event)
    if customer is None:
        return [gone(ctx)]
    draft = secrets.token_hex(4)
    ctx.state.go("customer.birthday", customer_id=customer.id, draft=draft)
    return [Text(ctx._("The birthday of {who} as DD.MM.YYYY, or DD.MM without the year. Now: "
                       "{birthday}.").format(who=called(customer),
                                             birthday=birthday_text(ctx, customer)),
                 keyboard([cancel_button(ctx, draft)]))]


@router.state("customer.birthday")
async def take_birthday(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, ctx.state.data
    cancel_row = keyboard([cancel_button(ctx, data["draft"])])
    try:
        birthday = parse_birthday(event.text, ctx.local(ctx.now).date())
    except ValueError:
        return [Text(_("That is not a date I can use. Example: 14.03.1990, or 14.03."), cancel_row)]
    customer = await ctx.uow.customers.get(data["customer_id"])
    if customer is None:
        ctx.state.clear()
        return [gone(ctx)]
    ctx.state.go("customer.birthday_ok", **data, day=birthday.day, month=birthday.month,
                 year=birthday.year)
    return [Text(_("Set the birthday of {who} to {birthday}?").format(
        who=called(customer), birthday=dd_mm(birthday.day, birthday.month, birthday.year)),
        keyboard([Button(_("✅ Confirm"), f"cu.bok:{data['draft']}"),
                  cancel_button(ctx, data["draft"])]))]


@router.button("cu.bok")
async def confirm_birthday(event: Event, ctx: Context) -> list[Reply]:
    draft, data = (event.payload or "").partition(":")[2], ctx.state.data
    if ctx.state.name != "customer.birthday_ok" or data.get("draft") != draft:
        return stale(ctx)
    ctx.state.clear()
    customer = await ctx.uow.customers.get(data["customer_id"])
    if customer is None:
        return [gone(ctx)]
    before = birthday_text(ctx, customer) if customer.birth_month else None
    await ctx.uow.customers.set_birthday(customer.id, data["day"], data["month"], data["year"])
    await audit.record(ctx.uow, ctx.identity.id, "birthday", customer.id, at=ctx.now,
                       before=before, after=birthday_text(ctx, customer))
    return await card_screen(ctx, customer, ctx._("✅ The birthday is saved."))
