"""Staff invite links: whoever opens one becomes a cashier or an admin (once)."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event, EventKind
from bot.i18n import N_
from bot.invites import INVITE_PREFIX, hash_token
from bot.replies import Reply, Text
from bot.routing import Router

router = Router()

ROLE_NAMES = {"admin": N_("an administrator"), "cashier": N_("a cashier")}


@router.gate
async def accept_invite(event: Event, ctx: Context) -> list[Reply] | None:
    if not (event.kind is EventKind.COMMAND and event.command == "start"
            and (event.payload or "").startswith(INVITE_PREFIX)):
        return None
    token = (event.payload or "").removeprefix(INVITE_PREFIX)
    invite = await ctx.uow.staff.use_invite(hash_token(token), ctx.identity.id, ctx.now)
    if invite is None:
        return [Text(ctx._("This invite link has already been used, has expired or is not "
                           "valid. Please ask the owner for a new one."))]
    if invite.created_by is None:  # the first admin: the other printed links die with it
        await ctx.uow.staff.revoke_bootstrap_invites()
    role = invite.role
    await ctx.uow.staff.grant(ctx.identity.id, role, invite.outlet_id, invite.created_by, ctx.now)
    ctx.role = "admin" if ctx.role == "admin" else role
    text = ctx._("You are now {role} of {shop}.").format(
        role=ctx._(ROLE_NAMES[role]), shop=ctx.settings.shop.name)
    if not ctx.is_member:
        text += "\n" + ctx._("To get your own loyalty card as well, send /start.")
    return [Text(text)]
