"""Build a BETO-architecture BERT offline: cased WordPiece vocab with BETO's special tokens."""

import logging
from pathlib import Path
from typing import Iterable, List, Optional, Union

from .corpus.lines import LinePolicy
from .corpus.texts import expand_paths, iter_texts
from .errors import BetoConfigError, require_positive

logger = logging.getLogger(__name__)

# BETO's vocabulary starts with these, in this order: [MASK]=0, [PAD]=1, [EOS]=2, ...
BETO_SPECIAL_TOKENS = ("[MASK]", "[PAD]", "[EOS]", "[UNK]", "[CLS]", "[SEP]")


def train_vocab(
    texts: Iterable[str],
    *,
    vocab_size: int,
    min_frequency: int = 2,
    lowercase: bool = False,
    source: str = "the input files are empty",
) -> List[str]:
    """Train a WordPiece vocabulary (cased, accents kept) with BETO's special-token layout.

    Deterministic: the same texts always give the same vocabulary (`spacy_beto.wordpiece`;
    `tokenizers`' own trainer does not). `source` ends the error if there is no text ("No text
    to train the vocabulary on: ...").
    """
    from .wordpiece import count_words, train_wordpiece

    n_texts = 0

    def counted() -> Iterable[str]:
        nonlocal n_texts
        for text in texts:
            n_texts += 1
            yield text

    words = count_words(counted(), lowercase=lowercase)
    if n_texts == 0:
        raise BetoConfigError(f"No text to train the vocabulary on: {source}.")
    return train_wordpiece(
        words,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=500,
        special_tokens=list(BETO_SPECIAL_TOKENS),
    )


def read_vocab(path: Union[str, Path]) -> List[str]:
    """Read a WordPiece vocab.txt and check it has the special tokens BERT needs."""
    path = Path(path)
    if not path.is_file():
        raise BetoConfigError(f"{path}: vocabulary file not found")
    vocab = path.read_text(encoding="utf8").splitlines()
    missing = [tok for tok in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if tok not in vocab]
    if missing:
        raise BetoConfigError(
            f"{path}: not a BERT WordPiece vocabulary, missing special tokens {missing}. "
            f"Expected one token per line with {list(BETO_SPECIAL_TOKENS)} among them."
        )
    if len(set(vocab)) != len(vocab):
        dup = next(tok for i, tok in enumerate(vocab) if tok in vocab[:i])
        raise BetoConfigError(f"{path}: duplicate vocabulary entry {dup!r}")
    return vocab


def _vocab_from_files(
    texts: Iterable[Union[str, Path]], *, vocab_size: int, min_frequency: int, skip_invalid: bool
) -> List[str]:
    given = list(texts)
    files = expand_paths(given)
    if not files:
        raise BetoConfigError(
            f"No text to train the vocabulary on: no .jsonl, .txt or .spacy file in "
            f"{', '.join(map(str, given))}."
        )
    policy = LinePolicy(skip_invalid=skip_invalid, max_logged=5)
    names = ", ".join(map(str, files))
    try:
        return train_vocab(
            iter_texts(files, policy=policy),
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            source=(
                f"{names} has no text lines"
                if len(files) == 1
                else f"none of {names} has a text line"
            ),
        )
    finally:
        if policy.n_skipped:
            logger.warning("%s", policy.summary())


def build_mini(
    output_dir: Union[str, Path],
    *,
    texts: Optional[Iterable[Union[str, Path]]] = None,
    vocab_path: Optional[Union[str, Path]] = None,
    vocab_size: int = 8000,
    min_frequency: int = 2,
    layers: int = 2,
    hidden: int = 128,
    heads: int = 2,
    intermediate: Optional[int] = None,
    max_position: int = 512,
    seed: int = 0,
    skip_invalid: bool = False,
) -> Path:
    """Write a randomly initialised BERT with a BETO-style tokenizer to `output_dir`.

    The vocabulary is trained on the `texts` files (JSONL "text" field or plain lines) unless
    `vocab_path` names an existing vocab.txt (e.g. BETO's). A bad line in them (invalid JSON or
    UTF-8, no text field) is a CorpusError naming file:line, or with `skip_invalid` is skipped,
    counted and logged. The directory loads with
    `AutoTokenizer`/`AutoModel` and as `beto_transformer`'s model name.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if hidden % heads:
        raise BetoConfigError(
            f"--hidden ({hidden}) must be divisible by --heads ({heads}); e.g. use --heads "
            f"{max(h for h in range(1, heads + 1) if hidden % h == 0)}."
        )
    require_positive(**{"--layers": layers, "--hidden": hidden, "--max-position": max_position})
    if vocab_path is not None:
        vocab = read_vocab(vocab_path)
    elif texts:
        vocab = _vocab_from_files(
            texts, vocab_size=vocab_size, min_frequency=min_frequency, skip_invalid=skip_invalid
        )
    else:
        raise BetoConfigError("Give text files to train a vocabulary on, or --vocab PATH.")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(output / "vocab.txt"),
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=True,
        model_max_length=max_position,
    )
    tokenizer.save_pretrained(str(output))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or 4 * hidden,
        max_position_embeddings=max_position,
        pad_token_id=vocab.index("[PAD]"),
        architectures=["BertModel"],
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(output))
    logger.info(
        "Wrote a %d-layer BERT (hidden %d, vocab %d) to %s", layers, hidden, len(vocab), output
    )
    return output
