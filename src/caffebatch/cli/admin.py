"""`caffebatch admin`: manage the service's instances and users."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from caffebatch.service.context import ServiceContext


def _context() -> ServiceContext:
    from caffebatch.service.context import open_context
    from caffebatch.settings import Settings

    return open_context(Settings())


@click.group()
def admin() -> None:
    """Manage instances and users of the service (the store in CAFFEBATCH_HOME)."""


@admin.command("create-instance")
@click.option("--name", required=True, help="A name for the instance.")
@click.option("--plan", default=None, help="Plan name (default: CAFFEBATCH_PLAN).")
def create_instance(name: str, plan: str | None) -> None:
    """Create an instance and print its id."""
    from caffebatch.service import instances

    ctx = _context()
    with ctx.db.session() as session:
        instance = instances.create_instance(session, name, plan or ctx.settings.plan)
        click.echo(instance.id)


@admin.command("create-user")
@click.option("--instance", "instance_id", required=True, help="The instance's id.")
@click.option("--username", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given.",
)
def create_user(instance_id: str, username: str, password: str) -> None:
    """Create a user of an instance."""
    from caffebatch.errors import ServiceError
    from caffebatch.service import instances

    ctx = _context()
    try:
        with ctx.db.session() as session:
            user = instances.create_user(
                session, instance_id, username, password,
                scrypt_n=ctx.settings.password_scrypt_n,
            )
            click.echo(f"created user {user.username!r} of instance {instance_id}")
    except ServiceError as error:
        raise click.ClickException(str(error)) from error


@admin.command("list-instances")
def list_instances() -> None:
    """Print every instance: id, plan, name."""
    from sqlalchemy import select

    from caffebatch.store.tables import Instance

    ctx = _context()
    with ctx.db.session() as session:
        for instance in session.scalars(select(Instance).order_by(Instance.created_at)):
            click.echo(f"{instance.id}  {instance.plan}  {instance.name}")


@admin.command("migrate")
def migrate() -> None:
    """Create the store's tables, or upgrade them to this version's schema, and say where it is.

    `caffebatch serve` does the same on start; this runs it alone (before a rollout, say).
    """
    from caffebatch.errors import MigrationError
    from caffebatch.settings import Settings
    from caffebatch.store import Database

    settings = Settings()
    db = Database(settings.db_url)
    try:
        revision = db.migrate()
    except MigrationError as error:
        raise click.ClickException(str(error)) from error
    finally:
        db.dispose()
    click.echo(f"{db.engine.url.render_as_string(hide_password=True)}: at revision {revision}")
