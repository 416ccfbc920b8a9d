"""Error types raised by spacy-beto."""


class BetoConfigError(ValueError):
    """A transformer, tokenizer or pipeline setting is wrong; the message says what to change."""


class CorpusError(ValueError):
    """A corpus record is malformed; the message names the file and line."""


def require_positive(**values: int) -> None:
    """Raise BetoConfigError naming the first option that is not a positive integer."""
    for name, value in values.items():
        if value < 1:
            raise BetoConfigError(f"{name} must be a positive integer, got {value}.")
