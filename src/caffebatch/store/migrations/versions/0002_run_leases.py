"""Run leases: the server running a deployment, and until when its claim holds.

Several servers share one store; each renews the lease of the runs it executes, and a
server requeues a RUNNING deployment only once its lease has lapsed. Rows left RUNNING
before this revision have no lease, and count as lapsed.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("lease_owner", sa.String(100), nullable=True))
    op.add_column(
        "deployments", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.drop_column("lease_expires_at")
        table.drop_column("lease_owner")
