"""Check a local transformer directory before Hugging Face fails obscurely to load it."""

import json
from pathlib import Path

from ..errors import BetoConfigError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
BUILD_HINT = "python -m spacy_beto build-mini corpus/ner/train.jsonl --output DIR"


def looks_like_path(name: str) -> bool:
    """True if `name` is meant as a directory, not a hub id like 'org/model' or 'model'."""
    return (
        Path(name).exists()
        or name.startswith(("/", "./", "../", "~", "\\"))
        or name.count("/") > 1
        or (len(name) > 1 and name[1] == ":")
    )


def check_model_dir(path: Path, *, component: str) -> None:
    """Raise BetoConfigError naming what is missing or corrupt in the model directory `path`."""
    setting = f"[components.{component}.model] name"
    if not path.exists():
        raise BetoConfigError(
            f"The transformer directory '{path}' (component '{component}') does not exist. Set "
            f"{setting} to an existing local model directory or a Hugging Face hub name, or "
            f"build a mini model there with `{BUILD_HINT}`."
        )
    if not path.is_dir():
        raise BetoConfigError(
            f"'{path}' (component '{component}') is a file, not a transformer directory. Set "
            f"{setting} to the directory that holds config.json, the weights and the tokenizer."
        )
    config = path / "config.json"
    if not config.is_file():
        raise BetoConfigError(
            f"'{path}' (component '{component}') has no config.json, so it is not a Hugging Face "
            f"model directory. It needs config.json, weights ({' or '.join(WEIGHT_FILES[:2])}) "
            f"and a tokenizer ({' or '.join(TOKENIZER_FILES)}): save it with save_pretrained() "
            f"or rebuild it with `{BUILD_HINT}`."
        )
    try:
        data = json.loads(config.read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BetoConfigError(
            f"'{config}' is corrupt: not valid JSON ({err}). Restore it from the original model "
            f"(e.g. BETO's config.json) or rebuild the directory with `{BUILD_HINT}`."
        ) from err
    if not isinstance(data, dict) or "model_type" not in data:
        raise BetoConfigError(
            f'\'{config}\' has no "model_type" (BETO\'s is "bert"): it is not a transformer '
            f"config. Restore it from the original model or rebuild the directory."
        )
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise BetoConfigError(
            f"'{path}' (component '{component}') has no weights file ({', '.join(WEIGHT_FILES)}). "
            f"Copy the model's weights into it, or rebuild it with `{BUILD_HINT}`."
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise BetoConfigError(
            f"'{path}' (component '{component}') has no tokenizer ({' or '.join(TOKENIZER_FILES)})"
            f". Copy the model's vocab.txt (e.g. BETO's) into it."
        )


def load_failure(name: str, *, component: str, local: bool, cause: Exception) -> BetoConfigError:
    """The error for a transformer that Hugging Face could not load from `name`."""
    if local:
        return BetoConfigError(
            f"Could not load the transformer in '{name}' for component '{component}': "
            f"{type(cause).__name__}: {cause}. A file in the directory is truncated or "
            f"corrupt (e.g. an interrupted copy of the weights): copy the model again "
            f"or rebuild it with `python -m spacy_beto build-mini`."
        )
    return BetoConfigError(
        f"Could not load the transformer '{name}' for component '{component}'. It is not "
        f"a local directory with config.json, tokenizer and weights, and it could not be "
        f"fetched from the Hugging Face hub (offline, or the name is wrong). Set "
        f"[components.{component}.model] name to a local model directory, e.g. one built "
        f"by `python -m spacy_beto build-mini`. Cause: {cause}"
    )
