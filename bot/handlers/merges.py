"""Two cards with one phone, for admins: the answer to the alert of bot/loyalty/shared_phones.py.
«Merge» joins the card whose phone is not verified into the verified one; «Keep apart»
leaves both, and nobody is asked about the pair again. Either is decided once: the pair is
locked, a second tap (or another admin's) is told what was decided.

Buttons: ``merge.yes:<pair_id>``, ``merge.no:<pair_id>``.
"""

from __future__ import annotations

from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty import shared_phones
from bot.loyalty.cards import format_card_number
from bot.loyalty.tiers import current_tier, tier_label

router = Router()
router.gate(staff_only(router, ADMIN))


def pair_id(event: Event) -> int | None:
    return row_id((event.payload or "").partition(":")[2])


def decided(ctx: Context, status: str) -> list[Reply]:
    if status == "merged":
        return [Text(ctx._("These cards are already merged; that can't be undone."))]
    return [Text(ctx._("These cards were already kept apart."))]


def unmergeable(ctx: Context) -> list[Reply]:
    return [Text(ctx._("These cards have changed since the alert (one was deleted, or its phone "
                       "is no longer the same); nothing was merged."))]


@router.button("merge.yes")
async def merge_cards(event: Event, ctx: Context) -> list[Reply]:
    pair = await ctx.uow.shared_phones.lock(number) if (number := pair_id(event)) else None
    if pair is None:
        return unmergeable(ctx)
    if pair.status == "merged":
        return decided(ctx, pair.status)
    old_card = format_card_number(pair.typed_card_number)
    try:
        survivor = await shared_phones.merge(ctx.uow, pair, ctx.identity.id, ctx.now)
    except shared_phones.NotMergeable:
        return unmergeable(ctx)
    balance = await ctx.uow.lots.available_balance(survivor.id, ctx.now)
    ctx.notify(shared_phones.merged_notice(survivor.id, survivor.card_number,
                                           pair.typed_card_number, balance))
    tier = current_tier(survivor.purchase_count, ctx.settings.program, survivor.total_spent)
    text = ctx._("✅ Merged: card {old} is now part of card {card} ({name}): {points}, {purchases}, "
                 "tier {tier}. The card {old} no longer works. The customer is told.").format(
        old=old_card, card=format_card_number(survivor.card_number), name=survivor.name or "—",
        points=ctx.t.points(balance), tier=tier_label(tier, ctx._),
        purchases=ctx.t.ngettext("{n} purchase", "{n} purchases",
                                 survivor.purchase_count).format(n=survivor.purchase_count))
    return [Text(text, keyboard([Button(ctx._("👤 The customer"), f"cu.show:{survivor.id}")]))]


@router.button("merge.no")
async def keep_apart(event: Event, ctx: Context) -> list[Reply]:
    pair = await ctx.uow.shared_phones.lock(number) if (number := pair_id(event)) else None
    if pair is None:
        return unmergeable(ctx)
    if pair.status != "open":
        return decided(ctx, pair.status)
    await ctx.uow.shared_phones.keep_apart(pair.id, ctx.identity.id, ctx.now)
    await audit.record(ctx.uow, ctx.identity.id, "keep_cards_apart", pair.verified_customer_id,
                       at=ctx.now, pair=pair.id, typed_card=pair.typed_card_number)
    return [Text(ctx._("Kept apart: the two cards stay separate, and you won't be asked about "
                       "them again."))]
