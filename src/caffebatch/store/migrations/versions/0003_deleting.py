"""A DELETE sent to a server that does not run the deployment: the row is marked, the
running server stops the run, finishes its writes and releases its lease, and only then is
the row removed, so that no result lands after the DELETE's answer.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deployments",
        sa.Column("deleting", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.drop_column("deleting")
