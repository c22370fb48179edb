"""expiry warnings are about a burn day, not a lot: earlier warnings recorded by their lot
become the shop-local day that lot burns on, so the points they announced are not announced
again

Revision ID: 0016
Revises: 0015
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def upgrade() -> None:
    bind = op.get_bind()
    book = bind.execute(sa.text("SELECT timezone FROM stats_book WHERE id = 1")).first()
    zone = ZoneInfo(book[0]) if book else UTC  # the shop's zone, as the day book knows it
    sends = bind.execute(sa.text(
        "SELECT id, customer_id, episode FROM trigger_sends WHERE trigger = 'expiry_warning' "
        "ORDER BY id")).all()
    lots = [int(episode) for _id, _customer, episode in sends if episode.isdecimal()]
    burns: dict[int, datetime] = {}
    for start in range(0, len(lots), 500):
        chunk = lots[start:start + 500]
        rows = bind.execute(sa.text("SELECT id, expires_at FROM point_lots WHERE id IN :ids")
                            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": chunk})
        burns.update((lot_id, _aware(at)) for lot_id, at in rows)
    taken: set[tuple[int, str]] = set()
    for send_id, customer_id, episode in sends:
        if not episode.isdecimal() or int(episode) not in burns:
            continue
        day = burns[int(episode)].astimezone(zone).date().isoformat()
        # two old warnings about one day (the repeat this fixes) keep both rows, apart
        name, n = day, 1
        while (customer_id, name) in taken:
            n += 1
            name = f"{day}#{n}"
        taken.add((customer_id, name))
        bind.execute(sa.text("UPDATE trigger_sends SET episode = :episode WHERE id = :id"),
                     {"episode": name, "id": send_id})


def downgrade() -> None:
    """The lot a warning was recorded by is not kept: the days stay (the earlier code reads
    them as episodes it has not seen, at worst one more warning per customer)."""
