"""`caffebatch inspect` and `caffebatch convert`: look at a model and export it to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from caffebatch.errors import ModelError
from caffebatch.runtime.backends import engine_names

if TYPE_CHECKING:
    from caffebatch.compiler.compile import CompiledModel

MODEL_DIR = click.argument(
    "model_dir", type=click.Path(exists=True, path_type=Path), metavar="MODEL_DIR"
)


def _load(model_dir: Path) -> CompiledModel:
    from caffebatch.model import load_model

    try:
        return load_model(model_dir)
    except ModelError as error:
        raise click.ClickException(str(error)) from error


def _shape(shape: tuple[int, ...]) -> str:
    return "N x " + " x ".join(str(d) for d in shape[1:]) if len(shape) > 1 else "N"


@click.command()
@MODEL_DIR
@click.option("--engine", type=click.Choice(engine_names()), default=None,
              help="Also say which backend this setting gives the model (auto: measure them).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="The batch --engine auto measures [default: as `score` would use].")
@click.option("--remeasure", is_flag=True,
              help="Measure --engine auto again instead of showing the choice kept from before.")
def inspect(model_dir: Path, engine: str | None, batch_size: int | None, remeasure: bool) -> None:
    """Print the layers of MODEL_DIR's scoring net, their output shapes and MACs per record.

    MODEL_DIR is a model folder holding deployment-meta.json (which names the prototxt
    and the weights), or a .tar.gz/.zip archive of one.
    """
    from rich.console import Console
    from rich.table import Table

    model = _load(model_dir)
    table = Table(title=f"{model_dir} (declared batch {model.declared_batch})")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("MACs", justify="right")
    for name, shape in model.inputs.items():
        table.add_row(name, "input", _shape((0, *shape)), "")
    for layer in model.layers:
        shapes = ", ".join(_shape(top.shape) for top in layer.tops) or "-"
        table.add_row(layer.name, layer.type, shapes, f"{layer.macs:,}" if layer.macs else "")
    console = Console()
    console.print(table)
    console.print(f"inputs: {', '.join(model.inputs)}   outputs: {', '.join(model.outputs)}")
    console.print(f"multiply-accumulates per record: {model.macs:,}")
    if engine is not None:
        from caffebatch.cli.score import choose_recorded, engine_line
        from caffebatch.errors import ExtraMissingError
        from caffebatch.jobs import default_batch_size
        from caffebatch.jobs.executors.chunked import scoring_split

        batch = batch_size or default_batch_size(model.declared_batch)
        try:  # as `score` measures it: one of its passes, on its share of the cores
            chosen, kept = choose_recorded(model, engine, batch=batch,
                                           threads=scoring_split(None, None)[1], precision="f32",
                                           remeasure=remeasure)
        except ExtraMissingError as error:
            raise click.UsageError(str(error)) from error
        console.print(engine_line(chosen), markup=False, soft_wrap=True)
        if kept:
            console.print(kept, markup=False, soft_wrap=True)


@click.command()
@MODEL_DIR
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Where to write the ONNX model.",
)
def convert(model_dir: Path, output: Path) -> None:
    """Compile MODEL_DIR's Caffe model to an ONNX file with a symbolic batch axis."""
    import onnx

    model = _load(model_dir)
    onnx.checker.check_model(model.onnx, full_check=True)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(model.onnx.SerializeToString())
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from error
    click.echo(f"wrote {output} ({output.stat().st_size:,} bytes): inputs {dict(model.inputs)}, outputs {list(model.outputs)}")
