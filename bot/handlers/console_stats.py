"""The owner's figures: /stats or the console's «Stats» (the last 30 days), /stats 90 (days),
/stats 2026-03 (a calendar month in the shop's time zone). Admins only. The text first, then
two charts, rendered in a worker thread after the event's transaction commits; a chart with
nothing to draw is a sentence saying so instead, and the month still running is marked
partial on the cohort chart. What each figure means: bot/console/stats.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from babel.dates import format_date

from bot.console import charts
from bot.console.stats import Stats, gather, month_start
from bot.core.after_commit import Answer, drawn_later
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Text
from bot.core.routing import Router
from bot.core.text import whole_number
from bot.handlers.checkout import money
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.money import MINOR_PER_UNIT

router = Router()
router.gate(staff_only(router, ADMIN))

DEFAULT_DAYS = 30
MAX_DAYS = 366
MONTH = re.compile(r"(\d{4})-(\d{1,2})")
LTV_COHORTS = 6  # cohorts listed in the text; the chart shows twelve


@dataclass(frozen=True, slots=True)
class Period:
    first: date  # shop-local days, both included; the last one up to now
    last: date
    spend_end: datetime  # a month still running: its own end (its spend is for all of it)
    days: int | None = None  # "the last N days" (today included), else a calendar month


def period_of(typed: str, ctx: Context) -> Period | None:
    """The period typed after /stats, or None when it is not one we understand."""
    today = ctx.local(ctx.now).date()
    if not typed:
        typed = str(DEFAULT_DAYS)
    if typed.isdecimal():
        days = whole_number(typed)
        if days is None or not 1 <= days <= MAX_DAYS:
            return None
        return Period(today - timedelta(days=days - 1), today, ctx.now, days)
    match = MONTH.fullmatch(typed)
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        return None
    tz = ctx.services.timezone
    year, month = int(match[1]), int(match[2])
    after = month_start(year, month + 1, tz)
    first = date(year, month, 1)
    if first > today:
        return None
    return Period(first, min(after.date() - timedelta(days=1), today), after)


def _title(ctx: Context, period: Period) -> str:
    _ = ctx._
    if period.days is not None:
        return ctx.t.ngettext("📊 The last {days} day ({since} – {until})",
                              "📊 The last {days} days ({since} – {until})",
                              period.days).format(
            days=ctx.t.number(period.days), since=ctx.t.date(period.first),
            until=ctx.t.date(period.last))
    month = format_date(period.first, "LLLL y", locale=ctx.t.babel_locale)
    text = _("📊 Figures for {month}").format(month=month)
    if ctx.now < period.spend_end:
        text += " " + _("(so far)")
    return text


def text_of(ctx: Context, period: Period, stats: Stats) -> str:
    _, t = ctx._, ctx.t
    crr = stats.crr
    lines = [
        _title(ctx, period),
        _("Members: {members}, new in the period: {new}").format(
            members=t.number(stats.members), new=t.number(stats.new_members)),
        _("Active: {active_30} bought within 30 days, {active_90} within 90 days").format(
            active_30=t.number(stats.active_30), active_90=t.number(stats.active_90)),
        _("Purchases: {purchases} for {revenue} (net of refunds), average check {check}").format(
            purchases=t.number(stats.purchases), revenue=money(ctx, stats.revenue),
            check=money(ctx, stats.average_check)),
        t.ngettext("Repeat purchases: {rate} of the {buyers} buyer has bought at least twice",
                   "Repeat purchases: {rate} of the {buyers} buyers have bought at least twice",
                   stats.buyers).format(
            rate=t.percent(stats.repeat_rate), buyers=t.number(stats.buyers)),
        _("Retention (CRR): {crr}; customers at the start {start}, at the end {end}, of them "
          "new {new} (a customer bought within {period})").format(
            crr=t.percent(crr) if crr is not None else "—",
            start=t.number(stats.customers_at_start), end=t.number(stats.customers_at_end),
            new=t.number(stats.new_customers), period=t.days(ctx.settings.console.customer_days)),
    ]
    if stats.retention_spend and stats.crc is not None:
        lines.append(t.ngettext(
            "Cost of retention (CRC): {crc} per buyer ({spend} spent on retention / {buyers} "
            "buyer)",
            "Cost of retention (CRC): {crc} per buyer ({spend} spent on retention / {buyers} "
            "buyers)", stats.buyers).format(
            crc=money(ctx, stats.crc), spend=money(ctx, stats.retention_spend),
            buyers=t.number(stats.buyers)))
    else:
        lines.append(_("Cost of retention (CRC): not counted: the config file has no money "
                       "spent on retention for these months, or nobody bought"))
    lines.append(_("Lifetime value (LTV): {ltv} per member (net revenue to date)").format(
        ltv=money(ctx, stats.ltv)))
    joined = [cohort for cohort in stats.cohorts if cohort.members][-LTV_COHORTS:]
    if joined:
        lines.append(_("LTV by month of joining: {cohorts}").format(cohorts="; ".join(
            _("{month} — {ltv} ({members})").format(
                month=format_date(cohort.month, "LLL y", locale=t.babel_locale),
                ltv=money(ctx, cohort.ltv), members=t.number(cohort.members))
            for cohort in joined)))
    points = stats.points
    lines.append(_("Points: issued {issued}, spent {spent}, expired {expired}; outstanding "
                   "now {outstanding} (a liability of {liability})").format(
        issued=t.number(points.issued), spent=t.number(points.spent),
        expired=t.number(points.expired), outstanding=t.number(points.outstanding),
        liability=money(ctx, points.outstanding * MINOR_PER_UNIT)))
    recipients, holdout, sent = stats.triggers
    if sent or holdout.size:
        lines.append(_("Triggers: sent {sent}, came back {came} of {size} ({conversion}), "
                       "holdout {hold_conversion}; uplift {uplift} pp (details: /triggers)").format(
            sent=t.number(sent), came=t.number(recipients.came_back),
            size=t.number(recipients.size), conversion=t.percent(recipients.conversion),
            hold_conversion=t.percent(holdout.conversion),
            uplift=("+" if recipients.conversion > holdout.conversion else "")
            + t.number(recipients.conversion - holdout.conversion)))
    else:
        lines.append(_("Triggers: none fired in the period"))
    return "\n".join(lines)


@router.command("stats")
@router.button("st.open")
async def stats(event: Event, ctx: Context) -> list[Answer]:
    _ = ctx._
    period = period_of(event.argument, ctx)
    if period is None:
        return [Text(_("Send /stats for the last 30 days, /stats <days> (1 to {max}) or "
                       "/stats <month>, e.g. /stats {month}, for a month that has begun.").format(
            max=MAX_DAYS, month=ctx.local(ctx.now).strftime("%Y-%m")))]
    console = ctx.settings.console
    figures = await gather(ctx.uow, period.first, period.last, ctx.now, ctx.services.timezone,
                           console.customer_days, console.retention_spend, period.spend_end)
    return [Text(text_of(ctx, period, figures)), *charts_of(ctx, period, figures)]


def charts_of(ctx: Context, period: Period, figures: Stats) -> list[Answer]:
    """The weekly and the cohort chart, drawn after the commit; instead of one with nothing
    to draw (an empty axis tells the owner nothing), a sentence saying why."""
    _ = ctx._
    day = ctx.t.date(period.last)
    weekly_drawn = any(week.revenue or week.buyers for week in figures.weeks)
    cohorts_drawn = any(any(cohort.buying) for cohort in figures.cohorts)
    if not weekly_drawn and not cohorts_drawn:
        return [Text(_("No charts: nobody bought in the 12 weeks up to {day}, so there is "
                       "nothing to draw. They appear here once members buy.").format(day=day))]
    replies: list[Answer] = []
    if weekly_drawn:
        weekly = partial(charts.weekly_png, figures.weeks, ctx.t, ctx.settings.shop.currency,
                         ctx.services.timezone)
        replies.append(drawn_later(weekly, _("Revenue and members who bought, by week (the last "
                                             "12 weeks)")))
    else:
        replies.append(Text(_("No weekly chart: nobody bought in the 12 weeks up to "
                              "{day}.").format(day=day)))
    if cohorts_drawn:
        running = month_running(ctx, period)
        caption = _("Cohort retention: who still buys, by month of joining")
        if running:
            caption += "\n" + _("Hatched: {month}, the current month, not over yet.").format(
                month=format_date(period.last, "LLLL", locale=ctx.t.babel_locale))
        replies.append(drawn_later(partial(charts.cohort_png, figures.cohorts, ctx.t, running),
                                   caption))
    else:
        replies.append(Text(_("No cohort chart: none of the members who joined in the 12 "
                              "months up to {day} has bought.").format(day=day)))
    return replies


def month_running(ctx: Context, period: Period) -> bool:
    """The period's last month (the cohort chart's last column) is the current one."""
    today = ctx.local(ctx.now).date()
    return (period.last.year, period.last.month) == (today.year, today.month)
