"""The `caffebatch` command.

Each subcommand lives in its own module and is imported only when it runs, so
`caffebatch --help` stays fast and never loads ONNX Runtime, FastAPI or Ray.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "inspect": "caffebatch.cli.engine:inspect",
    "convert": "caffebatch.cli.engine:convert",
    "score": "caffebatch.cli.score:score",
    "serve": "caffebatch.cli.serve:serve",
    "admin": "caffebatch.cli.admin:admin",
}

# command name -> the extra it needs beyond the core install
NEEDS_EXTRA: dict[str, str] = {"serve": "service", "admin": "service"}

SHORT_HELP: dict[str, str] = {
    "inspect": "Print a model's layers, output shapes and multiply-accumulates.",
    "convert": "Compile a Caffe model to an ONNX file.",
    "score": "Score every input object of a folder or bucket.",
    "serve": "Run the batch deployment service (WML v3 REST API).",
    "admin": "Manage instances and users of the service.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        if cmd_name in NEEDS_EXTRA:
            from caffebatch.errors import ExtraMissingError
            from caffebatch.extras import require

            try:
                require(NEEDS_EXTRA[cmd_name], f"`caffebatch {cmd_name}`")
            except ExtraMissingError as error:
                raise click.UsageError(str(error), ctx) from error
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="caffebatch")
def main() -> None:
    """caffebatch: deploy trained Caffe models and score them in batch."""
