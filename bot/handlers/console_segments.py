"""Customer segments for admins: /segments shows each group's segments with their sizes and,
for RFM and ABC × XYZ, the change since a month ago (bot/segments.py says who is where)."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event
from bot.handlers.desk import ADMIN, staff_only
from bot.i18n import N_
from bot.replies import Reply, Text
from bot.routing import Router
from bot.segments import GROUP_TITLES, MOVEMENT, Segment, catalog, scored_counts

router = Router()
router.gate(staff_only(router, ADMIN))

# How the message reads: a line per group; ABC × XYZ takes three (by money, by regularity, both).
LINES = (
    ("tier", "tier", GROUP_TITLES["tier"]),
    ("recency", "lapsed", GROUP_TITLES["recency"]),
    ("birthday", "birthday", GROUP_TITLES["birthday"]),
    ("channel", "channel", GROUP_TITLES["channel"]),
    ("source", "source", GROUP_TITLES["source"]),
    ("rfm", "rfm", GROUP_TITLES["rfm"]),
    ("abcxyz", "abc", N_("ABC (by revenue)")),
    ("abcxyz", "xyz", N_("XYZ (by regularity)")),
    ("abcxyz", "abcxyz", GROUP_TITLES["abcxyz"]),
)
TITLE_CHARS = 24
MOVING = ("rfm", "abcxyz")  # groups shown with their change since a month ago


def _entry(ctx: Context, segment: Segment, count: int, change: int | None) -> str:
    title = ctx._(segment.title)
    if len(title) > TITLE_CHARS:  # a campaign's own source text may be long
        title = title[:TITLE_CHARS - 1] + "…"
    text = f"{title} {ctx.t.number(count)}"
    if change:
        text += f" ({'+' if change > 0 else '−'}{ctx.t.number(abs(change))})"
    return text


@router.command("segments")
@router.button("sg.open")
async def segments(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    now = await catalog(ctx.uow, ctx.now, ctx.settings)
    before = await scored_counts(ctx.uow, ctx.now - MOVEMENT)
    members = next(count for segment, count in now if segment.code == "all")
    lines = [_("Segments (members: {members}); in brackets, the change in {period}").format(
        members=ctx.t.number(members), period=ctx.t.days(MOVEMENT.days))]
    for group, prefix, title in LINES:
        entries = [
            _entry(ctx, segment, count, count - before[segment.code] if group in MOVING else None)
            for segment, count in now
            if segment.group == group and segment.code.partition(":")[0] == prefix
            # the nine ABC × XYZ pairs only when someone is (or was) there
            and (prefix != "abcxyz" or count or before[segment.code])]
        if entries:
            lines.append(f"{_(title)}: " + " · ".join(entries))
    return [Text("\n".join(lines))]
