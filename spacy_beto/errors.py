"""Error types raised by spacy-beto."""


class BetoConfigError(ValueError):
    """A transformer, tokenizer or pipeline setting is wrong; the message says what to change."""


class CorpusError(ValueError):
    """A corpus record is malformed; the message names the file and line."""
