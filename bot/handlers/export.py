"""Exports for admins: /export offers customers or point operations as CSV or Excel; the
file is written to a temporary file (see bot/console/export.py) page by page in short transactions,
so checkouts go on meanwhile; it is sent as a document and removed by the channel; each
export is in the audit log."""

from __future__ import annotations

from pathlib import Path

from bot.console import audit
from bot.console.export import FORMATS, TABLES, TITLES, export
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Document, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.desk import ADMIN, staff_only

router = Router()
router.gate(staff_only(router, ADMIN))

FORMAT_NAMES = {"csv": N_("CSV"), "xlsx": N_("Excel")}


@router.command("export")
@router.button("ex.open")
async def offer(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    rows = [[Button(_("{what}, {format}").format(what=_(TITLES[table]),
                                                 format=_(FORMAT_NAMES[fmt])),
                    f"ex.file:{table}:{fmt}") for fmt in FORMATS] for table in TABLES]
    return [Text(_("What to export? CSV opens in Excel too (UTF-8, fields separated by «;»)."),
                 keyboard(*rows))]


@router.button("ex.file")
async def send_file(event: Event, ctx: Context) -> list[Reply]:
    _, (table, _sep, fmt) = ctx._, (event.payload or "").partition(":")[2].partition(":")
    if table not in TABLES or fmt not in FORMATS:
        return [Text(_("This button is out of date. Send /export again."))]
    # the event's own transaction ends here (what it did so far is kept): on SQLite it holds
    # the app's only connection, which the export's pages and everybody else take in turns
    await ctx.uow.commit()
    made = await export(ctx.uow.sessions, table, fmt, now=ctx.now,
                        t=ctx.t, program=ctx.settings.program, tz=ctx.services.timezone)
    try:
        await audit.record(ctx.uow, ctx.identity.id, "export", at=ctx.now, table=table,
                           format=fmt, file=made.filename, rows=made.rows)
    except BaseException:
        Path(made.path).unlink(missing_ok=True)  # noqa: ASYNC240 - personal data: no orphan file on disk
        raise
    caption = _("{what}: {rows}").format(what=_(TITLES[table]), rows=ctx.t.ngettext(
        "{n} row", "{n} rows", made.rows).format(n=ctx.t.number(made.rows)))
    return [Document(made.path, made.filename, caption)]
