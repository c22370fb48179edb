"""Blocking a card or a cashier, for admins: the one-tap answer to a velocity alert
(bot/loyalty/velocity.py), also offered on the customer's card (/customer) and in the staff list.
A blocked card neither earns nor spends points; a blocked cashier can't use the checkout.
Every block and unblock is in the audit log.

Buttons: ``blk.card:<customer_id>``, ``blk.card-off:<customer_id>``,
``blk.staff:<identity_id>``, ``blk.staff-off:<identity_id>``.
"""

from __future__ import annotations

from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.desk import ADMIN, staff_only
from bot.handlers.team import staff_block_button, who
from bot.loyalty.cards import format_card_number

router = Router()
router.gate(staff_only(router, ADMIN))


def named_id(event: Event) -> int | None:
    return row_id((event.payload or "").partition(":")[2])


def card_of(card_number: str, name: str | None) -> str:
    number = format_card_number(card_number)
    return f"{name} ({number})" if name else number


def card_block_button(ctx: Context, customer_id: int, blocked: bool) -> Button:
    if not blocked:
        return Button(ctx._("⛔ Block the card"), f"blk.card:{customer_id}")
    return Button(ctx._("✅ Unblock the card"), f"blk.card-off:{customer_id}")


@router.button("blk.card", "blk.card-off")
async def block_card(event: Event, ctx: Context) -> list[Reply]:
    blocking = (event.payload or "").startswith("blk.card:")
    customer_id = named_id(event)
    customer = await ctx.uow.customers.lock(customer_id) if customer_id else None
    if customer is None:
        return [Text(ctx._("This customer is no longer in the program; nothing was changed."))]
    _, card = ctx._, card_of(customer.card_number, customer.name)
    if (customer.blocked_at is not None) != blocking:
        await ctx.uow.customers.set_blocked(customer.id, ctx.now if blocking else None)
        await audit.record(ctx.uow, ctx.identity.id, "block_card" if blocking else "unblock_card",
                           customer.id, at=ctx.now, card=customer.card_number)
    text = (_("⛔ The card {card} is blocked: it neither earns nor spends points until you "
              "unblock it.") if blocking
            else _("✅ The card {card} is unblocked: it earns and spends points again.")
            ).format(card=card)
    return [Text(text, keyboard([card_block_button(ctx, customer.id, blocking)]))]


@router.button("blk.staff", "blk.staff-off")
async def block_cashier(event: Event, ctx: Context) -> list[Reply]:
    blocking = (event.payload or "").startswith("blk.staff:")
    identity_id = named_id(event)
    entry = await ctx.uow.roster.entry(identity_id) if identity_id else None
    staff = await ctx.uow.staff.get(identity_id) if entry and identity_id else None
    if entry is None or staff is None or entry.role != "cashier":  # admins are not blocked
        return [Text(ctx._("Only a cashier on the staff can be blocked; nothing was changed."))]
    _, person = ctx._, who(ctx, entry)
    if (staff.blocked_at is not None) != blocking:
        await ctx.uow.staff.set_blocked(staff.identity_id, ctx.now if blocking else None)
        await audit.record(ctx.uow, ctx.identity.id,
                           "block_cashier" if blocking else "unblock_cashier", at=ctx.now,
                           cashier=entry.identity_id, who=person)
    text = (_("⛔ {who} is blocked: they can't use the checkout until you unblock them.")
            if blocking else _("✅ {who} is unblocked and can use the checkout again.")
            ).format(who=person)
    return [Text(text, keyboard([staff_block_button(ctx, entry, blocking)]))]
