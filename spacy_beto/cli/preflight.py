"""`preflight`: check the real-data workflow's inputs before anything runs.

The first step of `spacy project run all-beto`: it checks that the CoNLL-2002 / EmoEvent files
are in the data directory and that the transformer is a usable local model directory or a hub
name that can be fetched (cached, or the hub is reachable), and names the `--vars` to set.
"""

from pathlib import Path
from typing import List, Optional, Sequence

import typer
from wasabi import msg

from . import app

# Files `convert-beto` reads, relative to --vars.data_dir.
DATA_FILES = (
    "conll2002/esp.train",
    "conll2002/esp.testa",
    "emoevent-es/train.tsv",
    "emoevent-es/dev.tsv",
)
# The test splits and the full EmoEvent corpus that all-beto's test evaluation reads (used only
# after training: `test-eval`).
TEST_FILES = (
    "conll2002/esp.testb",
    "emoevent-es/test.tsv",
    "emoevent-es/emoevent_es.csv",
)
# The README's command that downloads them into assets/data (the default data_dir).
ASSETS_COMMAND = ".venv/bin/python -m spacy project assets --extra"


def missing_data(data_dir: Path, files: Sequence[str] = DATA_FILES) -> List[str]:
    """The `files` (default: DATA_FILES) that are missing or empty in `data_dir`."""
    missing = []
    for rel in files:
        path = data_dir / rel
        if not path.is_file() or path.stat().st_size == 0:
            missing.append(str(path) + (" (empty)" if path.is_file() else ""))
    return missing


def check_data(data_dir: Path, *, var: str = "data_dir") -> None:
    """Raise BetoConfigError listing every missing data file and the two ways to provide them."""
    from ..errors import BetoConfigError

    missing = missing_data(data_dir)
    if missing:
        raise BetoConfigError(
            f"{len(missing)} of the {len(DATA_FILES)} data files are missing in --vars.{var} "
            f"'{data_dir}': {', '.join(missing)}. Download CoNLL-2002 and EmoEvent into "
            f"assets/data with `{ASSETS_COMMAND}` (internet), or point the workflow at a "
            f"directory that has {', '.join(DATA_FILES)} with --vars.{var} DIR."
        )


def check_test_data(data_dir: Path, *, var: str = "data_dir") -> None:
    """Raise BetoConfigError listing every missing test file (all-beto's test evaluation)."""
    from ..errors import BetoConfigError

    missing = missing_data(data_dir, TEST_FILES)
    if missing:
        raise BetoConfigError(
            f"{len(missing)} of the {len(TEST_FILES)} test files are missing in --vars.{var} "
            f"'{data_dir}': {', '.join(missing)}. Download them with `{ASSETS_COMMAND}` "
            f"(internet), or put {', '.join(TEST_FILES)} in the --vars.{var} directory."
        )


def check_transformer(name: str, *, var: str = "transformer") -> str:
    """Raise BetoConfigError if `name` is neither a usable model directory nor a fetchable hub
    name; return what it is, for the progress message."""
    from ..errors import BetoConfigError
    from ..hub import check_hub_name, is_cached
    from ..layers.model_dir import TOKENIZER_FILES, WEIGHT_FILES, looks_like_path

    if not looks_like_path(name):
        check_hub_name(name, setting=f"--vars.{var}")
        return "hub name, in the local cache" if is_cached(name) else "hub name, hub reachable"
    path = Path(name).expanduser()
    problem = None
    if not path.is_dir():
        problem = "it does not exist" if not path.exists() else "it is a file"
    elif not (path / "config.json").is_file():
        problem = "it has no config.json"
    elif not any((path / f).is_file() for f in WEIGHT_FILES):
        problem = f"it has no weights ({' or '.join(WEIGHT_FILES[:2])})"
    elif not any((path / f).is_file() for f in TOKENIZER_FILES):
        problem = f"it has no tokenizer ({' or '.join(TOKENIZER_FILES)})"
    if problem:
        raise BetoConfigError(
            f"--vars.{var} '{name}' is not a usable model directory: {problem}. Set "
            f"--vars.{var} to a directory with config.json, weights and vocab.txt (e.g. BETO "
            f"saved with save_pretrained(), or the output of `python -m spacy_beto pretrain`), "
            f"or to a Hugging Face hub name with internet access."
        )
    return "local model directory"


@app.command("preflight")
def preflight_cli(
    data_dir: Optional[Path] = typer.Option(
        None, help="Directory with conll2002/esp.{train,testa} and emoevent-es/{train,dev}.tsv"
    ),
    transformer: Optional[str] = typer.Option(None, help="Model directory or hub name"),
    test_files: bool = typer.Option(
        False, "--test-files", help="Also check the test splits and emoevent_es.csv"
    ),
) -> None:
    """Check the data files and the transformer before a workflow trains (all-beto's first
    step); every problem is reported, each naming the --vars to set."""
    from ..errors import BetoConfigError

    failures = 0
    if data_dir is not None:
        try:
            check_data(data_dir)
            msg.good(f"Data: {len(DATA_FILES)} files in {data_dir}")
        except BetoConfigError as err:
            msg.fail(str(err))
            failures += 1
    if data_dir is not None and test_files:
        try:
            check_test_data(data_dir)
            msg.good(f"Test data: {len(TEST_FILES)} files in {data_dir}")
        except BetoConfigError as err:
            msg.fail(str(err))
            failures += 1
    if transformer is not None:
        try:
            kind = check_transformer(transformer)
            msg.good(f"Transformer: {transformer} ({kind})")
        except BetoConfigError as err:
            msg.fail(str(err))
            failures += 1
    if failures:
        raise typer.Exit(1)
