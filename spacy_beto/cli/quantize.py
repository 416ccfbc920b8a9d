"""`quantize`: write a pipeline whose BETO encoder runs with int8 Linear layers on CPU."""

from pathlib import Path

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("quantize")
def quantize_cli(
    input_pipeline: str = typer.Argument(
        ..., help="Trained pipeline (fp32): an installed package name or a directory"
    ),
    output_pipeline: Path = typer.Argument(..., help="Pipeline directory to write"),
) -> None:
    """Set `quantize = "int8"` on every beto_transformer: dynamic int8 quantization of its
    encoder's Linear layers.

    The output keeps the fp32 weights on disk; `spacy.load` quantizes the encoder (CPU only).
    """
    from thinc.api import Config

    from ..annotate import load_pipeline
    from ..components.transformer import BetoTransformer
    from ..errors import BetoConfigError
    from ..quantize import INT8

    with clear_errors():
        nlp = load_pipeline(input_pipeline)
        names = [name for name, pipe in nlp.pipeline if isinstance(pipe, BetoTransformer)]
        if not names:
            raise BetoConfigError(f"{input_pipeline}: no beto_transformer component to quantize")
        nlp.meta["name"] = f"{nlp.meta.get('name', 'pipeline')}_int8"
        nlp.to_disk(output_pipeline)
        config_path = output_pipeline / "config.cfg"
        config = Config().from_disk(config_path, interpolate=False)
        for name in names:
            config["components"][name]["quantize"] = INT8
        config.to_disk(config_path)
    msg.good(f"Wrote {output_pipeline}: {', '.join(names)} quantized to int8 at load")
