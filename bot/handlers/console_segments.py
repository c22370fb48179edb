"""Customer segments for admins, made to be read on a phone: /segments answers with a short
summary (members, who bought lately, the RFM groups an owner acts on) and a bar chart of
the RFM groups, drawn after the event's transaction commits; a button per dimension opens
its details, each with a way back. Every figure is the nightly snapshot's, dated on the
screen (bot/marketing/segment_snapshot.py), with the change in 30 days and who moved
between groups since the snapshot before; what each segment means: bot/marketing/segments.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial

from bot.console import charts
from bot.core.after_commit import Answer, Later, drawn_later
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Keyboard, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.desk import ADMIN, staff_only
from bot.marketing.segment_snapshot import Overview, overview
from bot.marketing.segments import ABC, ABC_XYZ, MONTHS, RFM_TITLES, XYZ, Segment

router = Router()
router.gate(staff_only(router, ADMIN))

HEADLINE = ("champions", "loyal", "at_risk", "cant_lose", "hibernating", "lost")
ICONS = {"champions": "🏆", "loyal": "💚", "potential": "🌱", "new": "✨", "promising": "🙂",
         "attention": "👀", "about_to_sleep": "😴", "at_risk": "⚠️", "cant_lose": "🆘",
         "hibernating": "💤", "lost": "❌"}
COLOURS = {"champions": "#2a9d8f", "loyal": "#52b788", "potential": "#95d5b2", "new": "#8ecae6",
           "promising": "#a8dadc", "attention": "#f4d35e", "about_to_sleep": "#ee964b",
           "at_risk": "#f28482", "cant_lose": "#d1495b", "hibernating": "#adb5bd",
           "lost": "#6c757d"}
DETAILS = (  # (group, button label), two a row
    ("tier", N_("🏅 Tiers")), ("recency", N_("🕒 Last purchase")),
    ("birthday", N_("🎂 Birthdays")), ("channel", N_("💬 Channels")),
    ("source", N_("🔗 Sources")), ("rfm", N_("📊 RFM")),
    ("abcxyz", N_("💰 ABC × XYZ")),
)
TITLE_CHARS = 24  # a campaign's own source text may be long


# --- formatting -------------------------------------------------------------------------------

def share(ctx: Context, count: int, total: int) -> str:
    """A share in percent: whole above 10 %, one decimal below (a small group still shows)."""
    if not total:
        return ctx.t.percent(0)
    value = Decimal(100 * count) / total
    return ctx.t.percent(value.quantize(Decimal(1) if value >= 10 else Decimal("0.1")).normalize())


def as_of(ctx: Context, taken_at: datetime) -> str:
    """When a snapshot was taken, in the shop's time."""
    moment = ctx.local(taken_at)
    return f"{ctx.t.date(moment.date())}, {moment:%H:%M}"


def line(ctx: Context, title: str, count: int, total: int, change: int | None = None) -> str:
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS - 1] + "…"
    text = f"{title}: {ctx.t.number(count)} ({share(ctx, count, total)})"
    if change:
        text += f", {'+' if change > 0 else '−'}{ctx.t.number(abs(change))}"
    return text


def rfm_title(ctx: Context, group: str) -> str:
    return f"{ICONS[group]} {ctx._(RFM_TITLES[group])}"


def back(ctx: Context) -> Keyboard:
    return keyboard([Button(ctx._("◀ Back"), "segments")])


# --- the summary --------------------------------------------------------------------------------

def summary(ctx: Context, seen: Overview) -> Text:
    _, t = ctx._, ctx.t
    snapshot, members = seen.snapshot, seen.snapshot.members
    lines = [_("👥 Segments as of {when}").format(when=as_of(ctx, snapshot.taken_at)),
             t.ngettext("{n} member", "{n} members", members).format(n=t.number(members)),
             _("🛒 Bought within 30 days: {n} ({share})").format(
                 n=t.number(seen.counts["lapsed:0-30"]),
                 share=share(ctx, seen.counts["lapsed:0-30"], members))]
    lines += [line(ctx, rfm_title(ctx, group), seen.counts[f"rfm:{group}"], members)
              for group in HEADLINE]
    lines.append(_("More on the buttons below."))
    labels = [Button(_(label), f"segments:{group}") for group, label in DETAILS]
    return Text("\n".join(lines), keyboard(*(labels[k:k + 2] for k in range(0, len(labels), 2))))


def chart(ctx: Context, seen: Overview) -> Later | None:
    """The RFM groups as bars, drawn after the commit; None while nobody has bought."""
    snapshot, bars = seen.snapshot, []
    for group, title in RFM_TITLES.items():
        count = seen.counts[f"rfm:{group}"]
        note = f"{ctx.t.number(count)} · {share(ctx, count, snapshot.members)}"
        bars.append(charts.Bar(ctx._(title), count, note, COLOURS[group]))
    if not any(bar.value for bar in bars):
        return None
    when = as_of(ctx, snapshot.taken_at)
    title = ctx._("RFM groups") + "\n" + when
    return drawn_later(partial(charts.bars_png, bars, title),
                       ctx._("RFM groups of the members, as of {when}").format(when=when),
                       cache_key=f"segments:{snapshot.id}:{ctx.t.locale}")


def not_yet(ctx: Context) -> list[Reply]:
    return [Text(ctx._("The segments are being counted for the first time; at this many "
                       "customers it takes a few minutes. Send /segments again a little "
                       "later."))]


@router.command("segments")
@router.button("sg.open")
async def segments(event: Event, ctx: Context) -> Sequence[Answer]:
    seen = await overview(ctx.uow, ctx.now, ctx.settings)
    if seen is None:
        return not_yet(ctx)
    picture = chart(ctx, seen)
    return [summary(ctx, seen), *([picture] if picture else [])]


# --- the details ------------------------------------------------------------------------------

@router.button("segments")
async def details(event: Event, ctx: Context) -> list[Reply]:
    seen = await overview(ctx.uow, ctx.now, ctx.settings)
    if seen is None:
        return not_yet(ctx)
    group = (event.payload or "").partition(":")[2]
    screen = SCREENS.get(group)
    if screen is None:
        return [summary(ctx, seen)]
    return [Text("\n".join(screen(ctx, seen)), back(ctx))]


def listed(seen: Overview, group: str) -> list[tuple[Segment, int]]:
    return [(segment, count) for segment, count in seen.catalog if segment.group == group]


def tiers(ctx: Context, seen: Overview) -> list[str]:
    members = seen.snapshot.members
    return [ctx._("🏅 Tiers, as of {when}:").format(when=as_of(ctx, seen.snapshot.taken_at)),
            *(line(ctx, ctx._(segment.title), count, members)
              for segment, count in listed(seen, "tier"))]


def recency(ctx: Context, seen: Overview) -> list[str]:
    members, when = seen.snapshot.members, as_of(ctx, seen.snapshot.taken_at)
    return [ctx._("🕒 Days since the last purchase, as of {when}:").format(when=when),
            *(line(ctx, ctx._(segment.title), count, members)
              for segment, count in listed(seen, "recency"))]


def birthdays(ctx: Context, seen: Overview) -> list[str]:
    codes, members = seen.counts, seen.snapshot.members
    given = sum(codes[f"birthday:{month}"] for month in range(1, 13))
    return [ctx._("🎂 Birthdays by month, as of {when}:").format(when=as_of(ctx, seen.snapshot.taken_at)),
            *(line(ctx, ctx._(title), codes[f"birthday:{month}"], members)
              for month, title in enumerate(MONTHS, start=1)),
            line(ctx, ctx._("Not given"), members - given, members)]


def channels(ctx: Context, seen: Overview) -> list[str]:
    members = seen.snapshot.members
    rows = [line(ctx, ctx._(segment.title), count, members)
            for segment, count in listed(seen, "channel")]
    return [ctx._("💬 Channels, as of {when}:").format(when=as_of(ctx, seen.snapshot.taken_at)),
            *(rows or [ctx._("Nobody yet.")]), ctx._("(a member may use several)")]


def sources(ctx: Context, seen: Overview) -> list[str]:
    members, when = seen.snapshot.members, as_of(ctx, seen.snapshot.taken_at)
    return [ctx._("🔗 Where members came from, as of {when}:").format(when=when),
            *(line(ctx, ctx._(segment.title), count, members)
              for segment, count in listed(seen, "source"))]


def rfm(ctx: Context, seen: Overview) -> list[str]:
    snapshot = seen.snapshot
    lines = [ctx._("📊 RFM groups, as of {when}").format(when=as_of(ctx, snapshot.taken_at)),
             ctx._("(share of members)")]
    lines += [line(ctx, rfm_title(ctx, group), seen.counts[f"rfm:{group}"], snapshot.members,
                   change(seen, f"rfm:{group}")) for group in RFM_TITLES]
    lines += changes_note(ctx, seen)
    lines += movement(ctx, seen, ((f"rfm:{group}", rfm_title(ctx, group)) for group in RFM_TITLES))
    return lines


def abc_xyz(ctx: Context, seen: Overview) -> list[str]:
    snapshot, counts = seen.snapshot, seen.counts
    buyers = sum(counts[f"abc:{code}"] for code in ABC)
    lines = [ctx._("💰 ABC × XYZ, as of {when}").format(when=as_of(ctx, snapshot.taken_at)),
             ctx.t.ngettext("(share of the {n} buyer of the year)",
                            "(share of the {n} buyers of the year)", buyers).format(
                 n=ctx.t.number(buyers)),
             ctx._("By revenue:")]
    lines += [line(ctx, ctx._(title), counts[f"abc:{code}"], buyers, change(seen, f"abc:{code}"))
              for code, title in ABC.items()]
    lines.append(ctx._("By regularity:"))
    lines += [line(ctx, ctx._(title), counts[f"xyz:{code}"], buyers, change(seen, f"xyz:{code}"))
              for code, title in XYZ.items()]
    lines.append(ctx._("Both:"))
    lines += [f"{a}: " + " · ".join(f"{x} {ctx.t.number(counts[f'abcxyz:{a}{x}'])}" for x in XYZ)
              for a in ABC]
    lines += changes_note(ctx, seen)
    lines += movement(ctx, seen, ((f"abcxyz:{pair}", pair) for pair in ABC_XYZ))
    return lines


def change(seen: Overview, code: str) -> int | None:
    if seen.earlier is None:
        return None
    return seen.counts[code] - seen.earlier_counts[code]


def changes_note(ctx: Context, seen: Overview) -> list[str]:
    if seen.earlier is None:
        return []
    return [ctx._("+/−: the change since {when}.").format(when=as_of(ctx, seen.earlier.taken_at))]


def movement(ctx: Context, seen: Overview, codes: Iterable[tuple[str, str]]) -> list[str]:
    """Who came into each segment and who left it since the snapshot before."""
    _ = ctx._
    if seen.previous is None:
        return [_("Moves between groups: from the next night's snapshot on.")]
    when = as_of(ctx, seen.previous.taken_at)
    moved = [(title, seen.moved_in.get(code, 0), seen.moved_out.get(code, 0))
             for code, title in codes]
    moved = [(title, came, left) for title, came, left in moved if came or left]
    if not moved:
        return [_("Nobody moved between groups since {when}.").format(when=when)]
    return [_("Moved since {when}:").format(when=when), *(
        _("{group}: {came} in, {left} out").format(
            group=title, came=ctx.t.number(came), left=ctx.t.number(left))
        for title, came, left in moved)]


SCREENS = {"tier": tiers, "recency": recency, "birthday": birthdays, "channel": channels,
           "source": sources, "rfm": rfm, "abcxyz": abc_xyz}
