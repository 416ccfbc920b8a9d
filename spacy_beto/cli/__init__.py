"""The `python -m spacy_beto` command line."""

import typer

app = typer.Typer(
    name="spacy-beto",
    help="spacy-beto: BETO (Spanish BERT) for spaCy — model building and corpus tools.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help and error formatting, as spaCy's CLI: rendering them with rich imports ~0.3 s
    # of modules on every `--help` and argument error.
    rich_markup_mode=None,
)

# Commands register themselves on `app` when imported.
from ..distributed import cli as _distributed_cli  # noqa: E402,F401  (annotate-ray)
from . import (  # noqa: E402,F401
    annotate,
    build_mini,
    calibrate,
    convert,
    importers,
    model_card,
    preflight,
    pretrain,
    quantize,
    report,
    restore_labels,
    select,
    test_eval,
    train_seeds,
)
