"""«Unsubscribe» under a broadcast: one tap turns off the customer's offers and news (the
category broadcasts respect), says so in their language with the way back in Settings, and
counts for the broadcast the button came from (bot.marketing.broadcasts.note_unsubscribed). A second
tap only says it again; whatever id the payload names, the tap changes nobody's choice but
the tapper's own."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.settings import TOPICS
from bot.marketing import broadcasts

router = Router()

FIELD, TOPIC = TOPICS["promotions"]  # "notify_promotions", «Offers and news»


@router.button(broadcasts.UNSUBSCRIBE)
async def unsubscribe(event: Event, ctx: Context) -> list[Reply]:
    _, customer = ctx._, ctx.member
    was_on = getattr(customer, FIELD)
    await ctx.uow.customers.set_topic(customer.id, FIELD, False)
    ctx.reread()
    broadcast_id = row_id((event.payload or "").partition(":")[2])
    if broadcast_id is not None:
        await broadcasts.note_unsubscribed(ctx.uow, broadcast_id, customer.id, ctx.now)
    done = (_("🔕 Done: no more «{topic}» from {shop}. Purchase confirmations still arrive.")
            if was_on else _("You are already unsubscribed from «{topic}»."))
    back = _("To get them again, switch on «{topic}» in Settings.")
    return [Text("\n".join([done, back]).format(topic=_(TOPIC), shop=ctx.settings.shop.name),
                 keyboard([Button(_("⚙️ Settings"), "settings")]))]
