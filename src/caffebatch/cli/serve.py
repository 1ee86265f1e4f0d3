"""`caffebatch serve`: the REST service and its worker pool in one process."""

from __future__ import annotations

import logging

import click

log = logging.getLogger("caffebatch.serve")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the batch deployment service (WML v3 REST API) with its worker pool.

    Settings come from CAFFEBATCH_* environment variables (CAFFEBATCH_HOME,
    CAFFEBATCH_DATABASE_URL, CAFFEBATCH_ADMIN_USER, CAFFEBATCH_ADMIN_PASSWORD,
    CAFFEBATCH_LOCAL_ROOTS, CAFFEBATCH_MAX_CONCURRENT_RUNS, ...); see docs/service.md.
    On first start, with an empty store, one instance and one user are created.
    """
    import uvicorn

    from caffebatch.logs import configure as configure_logs
    from caffebatch.server import create_server
    from caffebatch.service.context import open_context
    from caffebatch.service.instances import bootstrap
    from caffebatch.settings import Settings

    settings = Settings()
    configure_logs(settings.log_format)
    ctx = open_context(settings)
    created = bootstrap(ctx)
    if created is not None:
        click.echo(f"created instance {created.instance_id} with user {created.username!r}")
        if created.password is not None:
            click.echo(f"generated password (shown once): {created.password}")
    click.echo(f"data folder: {settings.home}")
    log.info("server %s: runs claimed with a %g s lease", ctx.lease.owner, settings.lease_s)
    # log_config=None: uvicorn's lines go through the handler configure_logs set
    uvicorn.run(
        create_server(settings, context=ctx), host=host, port=port, log_level="info",
        log_config=None,
    )  # fmt: skip
