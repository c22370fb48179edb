"""/broadcast for admins: write the message (text, a picture on Telegram, a link button),
choose the segment and see who gets it and how long it takes, send a test to yourself,
confirm; then a progress line with «Stop», and a report («Report», /broadcast report [id])
with how many unsubscribed with the button under their copy.

The draft is a ``broadcasts`` row, so its buttons carry its id and survive a restart; only
the free text (the message, the button) uses the conversation state. Sending and resuming:
bot/marketing/broadcasts.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.channels.registry import paid_channels, photo_channels
from bot.core.after_commit import Answer, PictureFirst
from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.checkout import money
from bot.handlers.desk import ADMIN, staff_only
from bot.handlers.fallback import unsupported
from bot.handlers.signup import sign_up
from bot.loyalty.people import channel_names
from bot.marketing import broadcasts, segment_snapshot, segments
from bot.marketing.broadcasts import MAX_TEXT, parse_button, progress_key, sending_minutes
from bot.marketing.quiet_hours import quiet_until
from bot.storage.views import BroadcastView

router = Router()
admins_only = staff_only(router, ADMIN)

COMPOSING = ("broadcast.text", "broadcast.button")
MAX_IMAGE = 10 * 1024 * 1024  # Telegram's own limit for a photo
GROUP_TITLES = {"all": N_("Members"), "tier": N_("Tiers"), "recency": N_("Days since the last purchase"),
                "birthday": N_("Birthdays"), "channel": N_("Channels"), "source": N_("Sources"),
                "rfm": N_("RFM"), "abcxyz": N_("ABC × XYZ")}


@router.gate
async def gate(event: Event, ctx: Context) -> Sequence[Answer] | None:
    """Admins only; a photo is taken while composing, and is "unsupported input" as before
    for everybody else."""
    if event.kind is EventKind.PHOTO:
        if ctx.role == "admin" and ctx.state.name in COMPOSING:
            return await take_photo(event, ctx)
        plain = dataclasses.replace(event, kind=EventKind.UNSUPPORTED, text="", image=None)
        return await sign_up(plain, ctx) or await unsupported(plain, ctx)
    return await admins_only(event, ctx)


def stale(ctx: Context) -> list[Reply]:
    return [Text(ctx._("This broadcast button is out of date. Start a new one with /broadcast."))]


def cancel_button(ctx: Context, draft_id: int | str = "") -> Button:
    return Button(ctx._("✖ Cancel"), f"bc.cancel:{draft_id}")


async def own_draft(ctx: Context, raw: object) -> BroadcastView | None:
    """The caller's draft with this id, while it is a draft."""
    draft_id = row_id(str(raw))
    draft = await ctx.uow.broadcasts.get(draft_id) if draft_id is not None else None
    if draft is None or draft.status != "draft" or draft.author_identity_id != ctx.identity.id:
        return None
    return draft


def id_of(event: Event, part: int = 1) -> str:
    return ((event.payload or "").split(":", 2) + ["", ""])[part]


# --- 1. the message ---------------------------------------------------------------------------

@router.command("broadcast")
@router.button("bc.new")
async def begin(event: Event, ctx: Context) -> list[Reply]:
    words = event.argument.split()
    if words and words[0].lower() in ("report", "отчёт", "отчет"):
        return await report_of(ctx, words[1] if len(words) > 1 else None)
    _ = ctx._
    ctx.state.go("broadcast.text")
    lines = [ctx.t.ngettext("New broadcast. Send the text of the message (up to {max} character).",
                            "New broadcast. Send the text of the message (up to {max} characters).",
                            MAX_TEXT).format(max=ctx.t.number(MAX_TEXT))]
    photos = photo_channels()
    lines.append(_("To add a picture, send a photo with the text as its caption.")
                 if ctx.channel.name in photos else
                 _("Pictures can be attached in {channels}: send the photo to the bot there.")
                 .format(channels=channel_names(_, photos)))
    lines.append(_("The results of the last broadcast: /broadcast report"))
    return [Text("\n".join(lines), keyboard([cancel_button(ctx)]))]


async def draft_for(ctx: Context) -> BroadcastView:
    """The draft being written (a photo may have come first), or a new one."""
    draft = await own_draft(ctx, ctx.state.data.get("draft"))
    if draft is None:
        draft = await ctx.uow.broadcasts.new_draft(ctx.identity.id, ctx.now)
    return draft


def too_long(ctx: Context, text: str) -> Text:
    return Text(ctx.t.ngettext(
        "That is {n} character; a broadcast takes at most {max}. Please make it shorter.",
        "That is {n} characters; a broadcast takes at most {max}. Please make it shorter.",
        len(text)).format(n=ctx.t.number(len(text)), max=ctx.t.number(MAX_TEXT)))


@router.state("broadcast.text")
async def take_text(event: Event, ctx: Context) -> list[Reply]:
    text = event.text.strip()
    if not text:
        return [Text(ctx._("Send the text of the message."))]
    if len(text) > MAX_TEXT:
        return [too_long(ctx, text)]
    draft = await draft_for(ctx)
    await ctx.uow.broadcasts.set_text(draft.id, text)
    return ask_button(ctx, draft)


async def take_photo(event: Event, ctx: Context) -> Sequence[Answer]:
    _ = ctx._
    if event.image is None and event.fetch_image is not None:
        return [PictureFirst(event)]  # downloaded outside the transaction, then taken
    caption = event.text.strip()
    image = event.image
    if not image or len(image) > MAX_IMAGE:
        return [Text(_("I could not take this picture; please send another one."))]
    if len(caption) > MAX_TEXT:
        return [too_long(ctx, caption)]
    draft = await draft_for(ctx)
    await ctx.uow.broadcasts.set_image(draft.id, image)
    if caption:
        await ctx.uow.broadcasts.set_text(draft.id, caption)
    if not draft.text:
        ctx.state.go("broadcast.text", draft=draft.id)
        return [Text(_("Picture taken. Now send the text of the message."),
                     keyboard([cancel_button(ctx, draft.id)]))]
    return ask_button(ctx, draft, _("Picture taken."))


def ask_button(ctx: Context, draft: BroadcastView, note: str | None = None) -> list[Reply]:
    _ = ctx._
    ctx.state.go("broadcast.button", draft=draft.id)
    lines = [note] if note else []
    lines.append(_("Add a link button? Send «Label https://…», for example «Our menu "
                   "https://example.com/menu», or press «Skip»."))
    return [Text("\n".join(lines), keyboard(
        [Button(_("Skip"), f"bc.groups:{draft.id}")], [cancel_button(ctx, draft.id)]))]


@router.state("broadcast.button")
async def take_button(event: Event, ctx: Context) -> list[Reply]:
    draft = await own_draft(ctx, ctx.state.data.get("draft"))
    if draft is None:
        ctx.state.clear()
        return stale(ctx)
    parsed = parse_button(event.text)
    if parsed is None:
        return [Text(ctx._("Send the button as «Label https://…»: a short label, a space and a "
                           "link starting with http:// or https://. Or press «Skip»."), keyboard(
            [Button(ctx._("Skip"), f"bc.groups:{draft.id}")], [cancel_button(ctx, draft.id)]))]
    await ctx.uow.broadcasts.set_button(draft.id, *parsed)
    ctx.state.clear()
    return await groups(ctx, draft, ctx._("Button added."))


# --- 2. the segment ---------------------------------------------------------------------------

def group_title(ctx: Context, group: str) -> str:
    return ctx._(GROUP_TITLES[group]) if group in GROUP_TITLES else group


@router.button("bc.groups")
async def choose_group(event: Event, ctx: Context) -> list[Reply]:
    draft = await own_draft(ctx, id_of(event))
    return await groups(ctx, draft) if draft else stale(ctx)


async def catalog_of(ctx: Context) -> list[tuple[segments.Segment, int]] | None:
    """The segments with their sizes as /segments shows them (None: not counted yet)."""
    seen = await segment_snapshot.overview(ctx.uow, ctx.now, ctx.settings)
    return seen.catalog if seen is not None else None


def not_counted_yet(ctx: Context, draft: BroadcastView) -> list[Reply]:
    return [Text(ctx._("The segments are being counted for the first time; at this many "
                       "customers it takes a few minutes. Try again a little later."),
                 keyboard([Button(ctx._("🔄 Try again"), f"bc.groups:{draft.id}")],
                          [cancel_button(ctx, draft.id)]))]


async def groups(ctx: Context, draft: BroadcastView, note: str | None = None) -> list[Reply]:
    """The groups of segments (a group of one segment is that segment)."""
    catalog = await catalog_of(ctx)
    if catalog is None:
        return not_counted_yet(ctx, draft)
    by_group: dict[str, list[tuple[segments.Segment, int]]] = {}
    for segment, count in catalog:
        by_group.setdefault(segment.group, []).append((segment, count))
    rows = []
    for group, members in by_group.items():
        if len(members) == 1:
            segment, count = members[0]
            rows.append([Button(f"{ctx._(segment.title)} · {ctx.t.number(count)}",
                                f"bc.seg:{draft.id}:{segment.code}")])
        else:
            rows.append([Button(group_title(ctx, group) + " ›", f"bc.grp:{draft.id}:{group}")])
    lines = [note] if note else []
    lines.append(ctx._("Who gets it? Choose a group of customers:"))
    return [Text("\n".join(lines), keyboard(*rows, [cancel_button(ctx, draft.id)]))]


@router.button("bc.grp")
async def choose_segment(event: Event, ctx: Context) -> list[Reply]:
    draft = await own_draft(ctx, id_of(event))
    if draft is None:
        return stale(ctx)
    group = id_of(event, 2)
    catalog = await catalog_of(ctx)
    if catalog is None:
        return not_counted_yet(ctx, draft)
    rows = [[Button(f"{ctx._(segment.title)} · {ctx.t.number(count)}",
                    f"bc.seg:{draft.id}:{segment.code}")]
            for segment, count in catalog if segment.group == group]
    if not rows:
        return await groups(ctx, draft)
    return [Text(ctx._("{group}: choose a segment (the number is its members):").format(
        group=group_title(ctx, group)), keyboard(
        *rows, [Button(ctx._("◀ Back"), f"bc.groups:{draft.id}"), cancel_button(ctx, draft.id)]))]


async def audience_of(ctx: Context, draft: BroadcastView) -> int | None:
    try:
        return await broadcasts.audience(ctx.uow, draft.segment or "", ctx.now, ctx.settings)
    except KeyError:
        return None


@router.button("bc.seg")
async def segment_chosen(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    draft = await own_draft(ctx, id_of(event))
    if draft is None:
        return stale(ctx)
    segment = id_of(event, 2)
    await ctx.uow.broadcasts.set_segment(draft.id, segment)
    count = await audience_of(ctx, draft)
    if count is None:
        await ctx.uow.broadcasts.set_segment(draft.id, None)
        return [Text(_("This segment is not there any more."))] + await groups(ctx, draft)
    seen = await segment_snapshot.overview(ctx.uow, ctx.now, ctx.settings)
    if seen is None:
        return not_counted_yet(ctx, draft)
    title = next((_(s.title) for s, _n in seen.catalog if s.code == segment), segment)
    lines = [_("Segment «{segment}».").format(segment=title)]
    if segment_snapshot.from_snapshot(segment):
        moment = ctx.local(seen.snapshot.taken_at)
        lines.append(_("Its members are as of the nightly snapshot of {date}, {time} (as "
                       "/segments shows them).").format(date=ctx.t.date(moment.date()),
                                                         time=f"{moment:%H:%M}"))
    back = [Button(_("◀ Another segment"), f"bc.groups:{draft.id}"), cancel_button(ctx, draft.id)]
    if not count:
        lines.append(_("Nobody in it can get the message: customers who did not agree to "
                       "messages, turned off offers or blocked the bot are left out."))
        return [Text("\n".join(lines), keyboard(back))]
    lines.append(ctx.t.ngettext(
        "It goes to {n} customer (who agreed to messages, can be reached and did not turn off "
        "offers); sending takes about {minutes} min.",
        "It goes to {n} customers (who agreed to messages, can be reached and did not turn off "
        "offers); sending takes about {minutes} min.", count).format(
        n=ctx.t.number(count), minutes=sending_minutes(count, draft, ctx.settings)))
    return [Text("\n".join(lines), keyboard(
        [Button(_("🧪 Send me a test"), f"bc.test:{draft.id}")], back))]


# --- 3. the test, 4. the confirmation -----------------------------------------------------------

@router.button("bc.test")
async def send_test(event: Event, ctx: Context) -> list[Reply]:
    draft = await own_draft(ctx, id_of(event))
    if draft is None or draft.segment is None:
        return stale(ctx)
    count = await audience_of(ctx, draft)
    if not count:
        return await groups(ctx, draft, ctx._("Nobody in this segment can get the message now."))
    await ctx.uow.broadcasts.mark_tested(draft.id, ctx.now)
    go = Button(ctx.t.ngettext("✅ Send to {n} customer", "✅ Send to {n} customers", count).format(
        n=ctx.t.number(count)), f"bc.go:{draft.id}:{draft.segment}")
    # the owner's own copy: its «Unsubscribe» only says what it does for customers
    try_it = Button(ctx._("🔕 Unsubscribe"), f"bc.unsub:{draft.id}")
    return [*broadcasts.message(draft, try_it),
            Text(ctx._("⬆️ This is how customers will see it. Send it?"),
                 keyboard([go], [cancel_button(ctx, draft.id)]))]


@router.button("bc.unsub")
async def unsubscribe_in_the_test(event: Event, ctx: Context) -> list[Reply]:
    return [Text(ctx._("A customer who taps «Unsubscribe» stops getting offers and news (they "
                       "can turn them on again in Settings); the broadcast's report counts them. "
                       "In your test copy it changes nothing."))]


@router.button("bc.go")
async def confirm(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    raw, broadcast_id = id_of(event), row_id(id_of(event))
    broadcast = await ctx.uow.broadcasts.get(broadcast_id) if broadcast_id is not None else None
    if broadcast is not None and broadcast.status != "draft":  # a second tap
        return [Text(_("Broadcast #{id} has already been confirmed; nothing more is sent.").format(
            id=broadcast.id))]
    draft = await own_draft(ctx, raw)
    if draft is None or draft.tested_at is None or draft.segment != id_of(event, 2):
        return stale(ctx)
    count = await broadcasts.start(ctx.uow, draft.id, ctx.now, ctx.settings)
    if count is None:
        return stale(ctx)
    if not count:
        return await groups(ctx, draft, _("Nobody in this segment can get the message now."))
    ctx.notify(broadcasts.progress_notice(draft, broadcasts.Progress.starting(count), final=False))
    lines = [ctx.t.ngettext(
        "✅ Broadcast #{id} is on its way to {n} customer (about {minutes} min).",
        "✅ Broadcast #{id} is on its way to {n} customers (about {minutes} min).", count).format(
        id=draft.id, n=ctx.t.number(count), minutes=sending_minutes(count, draft, ctx.settings))]
    wait = quiet_until(ctx.now, ctx.settings.triggers, ctx.services.timezone)
    if wait > ctx.now:
        lines.append(_("It is quiet hours now: the messages wait until {time}.").format(
            time=ctx.local(wait).strftime("%H:%M")))
    lines.append(_("The line below shows how it goes; «Stop» halts what has not gone yet."))
    return [Text("\n".join(lines))]


@router.button("bc.cancel")
async def cancel_draft(event: Event, ctx: Context) -> list[Reply]:
    _, raw = ctx._, id_of(event)
    ctx.state.clear()
    draft = await own_draft(ctx, raw)
    if draft is not None:
        await broadcasts.cancel(ctx.uow, draft.id, ctx.now)
        return [Text(_("Cancelled; nothing was sent."))]
    sent_id = row_id(raw)
    sent = await ctx.uow.broadcasts.get(sent_id) if sent_id is not None else None
    if sent is not None and sent.status == "sending":  # «Cancel» under the test, after «Send»
        return [Text(_("Broadcast #{id} is already going out; «Stop» halts what has not gone "
                       "yet.").format(id=sent.id), keyboard([Button(_("⏹ Stop"), f"bc.stop:{sent.id}")]))]
    return [Text(_("Cancelled; nothing was sent."))]


# --- 5. progress, 6. stop, the report ---------------------------------------------------------

@router.button("bc.stop")
async def stop(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    raw, broadcast_id = id_of(event), row_id(id_of(event))
    broadcast = await ctx.uow.broadcasts.get(broadcast_id) if broadcast_id is not None else None
    if broadcast is None or broadcast.status != "sending":
        return [Text(_("This broadcast is not being sent any more."))] + (
            await report_of(ctx, raw) if broadcast is not None else [])
    stopped = await broadcasts.cancel(ctx.uow, broadcast.id, ctx.now)
    if stopped is None:
        return [Text(_("This broadcast is not being sent any more."))]
    done = await broadcasts.progress(ctx.uow, broadcast)
    return [Text(ctx.t.ngettext(
        "⏹ Broadcast #{id} is stopped: {n} message was not sent ({sent} had gone already).",
        "⏹ Broadcast #{id} is stopped: {n} messages were not sent ({sent} had gone already).",
        stopped).format(id=broadcast.id, n=ctx.t.number(stopped), sent=ctx.t.number(done.sent)),
        keyboard([Button(_("📊 Report"), f"bc.report:{broadcast.id}")]),
        key=progress_key(broadcast.id))]


@router.button("bc.report")
async def report_button(event: Event, ctx: Context) -> list[Reply]:
    return await report_of(ctx, id_of(event))


async def report_of(ctx: Context, raw: str | None) -> list[Reply]:
    """The report of broadcast ``raw``, or of the latest one sent."""
    _ = ctx._
    if raw is not None and raw.isdecimal():
        broadcast_id = row_id(raw)
        broadcast = await ctx.uow.broadcasts.get(broadcast_id) if broadcast_id is not None else None
    elif raw is None:
        broadcast = await ctx.uow.broadcasts.latest_sent()
    else:
        return [Text(_("Send /broadcast report or /broadcast report <number>."))]
    if broadcast is None or broadcast.confirmed_at is None:
        return [Text(_("No broadcast has been sent yet.") if raw is None
                     else _("There is no sent broadcast #{id}.").format(id=raw))]
    result = await broadcasts.report(ctx.uow, broadcast, ctx.settings)
    done, days = result.progress, ctx.settings.console.attribution_days
    status = {"sending": _("being sent"), "done": _("finished"),
              "cancelled": _("stopped")}.get(broadcast.status, broadcast.status)
    lines = [
        _("Broadcast #{id}, {date}, {status}:").format(
            id=broadcast.id, date=ctx.t.date(ctx.local(broadcast.confirmed_at).date()), status=status),
        _("Delivered {sent}, blocked or failed {failed}, not sent {cancelled}, waiting "
          "{left}.").format(sent=ctx.t.number(done.sent), failed=ctx.t.number(done.failed),
                            cancelled=ctx.t.number(done.cancelled), left=ctx.t.number(done.left)),
        *([_("Waiting for web visitors to come back: {away}.").format(
            away=ctx.t.number(done.away))] if done.away else []),
        *([_("Paid messages ({channels}): {paid}").format(
            channels=channel_names(_, paid_channels()), paid=ctx.t.number(result.paid))]
          if result.paid else []),
        _("Unsubscribed with its button: {unsubscribed}.").format(
            unsubscribed=ctx.t.number(result.unsubscribed)),
        ctx.t.ngettext(
            "Within {period} after the send, {buyers} recipient bought: purchases {purchases}, "
            "revenue {revenue}.",
            "Within {period} after the send, {buyers} recipients bought: purchases {purchases}, "
            "revenue {revenue}.", result.buyers).format(
            period=ctx.t.days(days), buyers=ctx.t.number(result.buyers),
            purchases=ctx.t.number(result.purchases), revenue=money(ctx, result.revenue)),
    ]
    if ctx.now < result.window_end:
        lines.append(_("Purchases are counted until {date}: the figures may still grow.").format(
            date=ctx.t.date(ctx.local(result.window_end).date())))
    return [Text("\n".join(lines))]
