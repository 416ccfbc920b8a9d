"""The `python -m spacy_beto` command line."""

import typer

app = typer.Typer(
    name="spacy-beto",
    help="spacy-beto: BETO (Spanish BERT) for spaCy — model building and corpus tools.",
    no_args_is_help=True,
    add_completion=False,
)

# Commands register themselves on `app` when imported.
from ..distributed import cli as _distributed_cli  # noqa: E402,F401  (annotate-ray)
from . import (  # noqa: E402,F401
    annotate,
    build_mini,
    convert,
    importers,
    model_card,
    pretrain,
    quantize,
    report,
)
