"""`quantize`: write a pipeline whose BETO encoder runs with int8 Linear layers on CPU."""

from pathlib import Path

import typer
from wasabi import msg

from . import app
from ._util import clear_errors


@app.command("quantize")
def quantize_cli(
    input_pipeline: Path = typer.Argument(..., help="Trained pipeline directory (fp32)"),
    output_pipeline: Path = typer.Argument(..., help="Pipeline directory to write"),
) -> None:
    """Mark every beto_transformer for dynamic int8 quantization of its encoder's Linear layers.

    The output keeps the fp32 weights on disk; `spacy.load` quantizes the encoder (CPU only).
    """
    import spacy

    from ..components.transformer import BetoTransformer
    from ..errors import BetoConfigError
    from ..quantize import INT8, QUANTIZE_KEY

    with clear_errors():
        nlp = spacy.load(input_pipeline)
        names = [name for name, pipe in nlp.pipeline if isinstance(pipe, BetoTransformer)]
        if not names:
            raise BetoConfigError(f"{input_pipeline}: no beto_transformer component to quantize")
        for name in names:
            nlp.get_pipe(name).cfg[QUANTIZE_KEY] = INT8
        nlp.meta["name"] = f"{nlp.meta.get('name', 'pipeline')}_int8"
        nlp.to_disk(output_pipeline)
    msg.good(f"Wrote {output_pipeline}: {', '.join(names)} quantized to int8 at load")
