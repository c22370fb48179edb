"""Exports for admins: /export offers customers or point operations as CSV or Excel; the
file is written after the event's transaction commits, to a temporary file (see
bot/console/export.py) page by page in short transactions, so checkouts go on meanwhile; it
is sent as a document and removed by the channel; each export is in the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from bot.console.export import FORMATS, TABLES, TITLES, audited_export
from bot.core.after_commit import Answer, Later
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
async def send_file(event: Event, ctx: Context) -> Sequence[Answer]:
    _, (table, _sep, fmt) = ctx._, (event.payload or "").partition(":")[2].partition(":")
    if table not in TABLES or fmt not in FORMATS:
        return [Text(_("This button is out of date. Send /export again."))]
    # written after the commit: on SQLite the event's transaction would hold the app's only
    # connection, which the export's pages and everybody else take in turns
    sessions = ctx.uow.sessions
    actor, now, t = ctx.identity.id, ctx.now, ctx.t
    program, tz = ctx.settings.program, ctx.services.timezone

    async def write() -> list[Reply]:
        made = await audited_export(sessions, table, fmt, actor, now=now, t=t, program=program,
                                    tz=tz)
        rows = t.ngettext("{n} row", "{n} rows", made.rows).format(n=t.number(made.rows))
        caption = t.gettext("{what}: {rows}").format(what=t.gettext(TITLES[table]), rows=rows)
        return [Document(made.path, made.filename, caption)]

    return [Later(write)]
