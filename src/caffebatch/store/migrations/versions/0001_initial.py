"""The schema of caffebatch 0.1.0: the tables `create_all` made before migrations existed.

A revision is frozen once released: it spells its columns out and never imports
caffebatch.store.tables, whose classes move on with the next revisions.

Revision ID: 0001
Revises: (none)
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str = "id") -> sa.Column[str]:
    return sa.Column(name, sa.String(36), nullable=False)


def _time(name: str) -> sa.Column[datetime]:
    # tables.UTCDateTime stores an aware DateTime; the decorator adds nothing to the DDL
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _owned_by_instance() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["instance_id"], ["instances.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "instances",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(50), nullable=False),
        _time("created_at"),
        _time("modified_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "users",
        _id(),
        _id("instance_id"),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(400), nullable=False),
        _time("created_at"),
        _owned_by_instance(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "published_models",
        _id(),
        _id("instance_id"),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("model_type", sa.String(50), nullable=False),
        sa.Column("latest_version_id", sa.String(36), nullable=True),
        _time("created_at"),
        _time("modified_at"),
        _owned_by_instance(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_published_models_instance_id", "published_models", ["instance_id"])
    op.create_table(
        "model_versions",
        _id(),
        _id("model_id"),
        sa.Column("archive_name", sa.String(200), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(["model_id"], ["published_models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_table(
        "deployments",
        _id(),
        _id("instance_id"),
        _id("model_id"),
        _id("version_id"),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("modified_at"),
        _owned_by_instance(),
        sa.ForeignKeyConstraint(["model_id"], ["published_models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("instance_id", "model_id", "status"):
        op.create_index(f"ix_deployments_{column}", "deployments", [column])
    op.create_table(
        "usage",
        _id("deployment_id"),
        _id("instance_id"),
        sa.Column("predictions", sa.Integer(), nullable=False),
        sa.Column("computation_s", sa.Float(), nullable=False),
        _owned_by_instance(),
        sa.PrimaryKeyConstraint("deployment_id"),
    )
    op.create_index("ix_usage_instance_id", "usage", ["instance_id"])


def downgrade() -> None:
    for table in ("usage", "deployments", "model_versions", "published_models", "users"):
        op.drop_table(table)
    op.drop_table("instances")
