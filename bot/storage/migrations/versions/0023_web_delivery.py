"""a file offered to a web chat visitor as a download link, kept in the database until it
expires, so that any web process serves the link another one made

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_downloads",
        sa.Column("id", Id, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_downloads")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_downloads_token_hash")),
    )
    op.create_index(op.f("ix_web_downloads_expires_at"), "web_downloads", ["expires_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_table("web_downloads")
