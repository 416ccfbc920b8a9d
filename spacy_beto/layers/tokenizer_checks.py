"""Checks for the known BETO tokenizer pitfalls, run when a transformer is initialized or loaded."""

import logging
import unicodedata
from typing import Any, Optional

from ..errors import BetoConfigError

logger = logging.getLogger(__name__)

PROBE = "Él compró Ñandúes en Málaga y Córdoba"
ACCENTED = set("áéíóúüñÁÉÍÓÚÜÑ")


def _vocab_profile(tokenizer: Any) -> "tuple[bool, bool]":
    """Return (has_cased_entries, has_accented_entries) for the tokenizer's vocabulary."""
    vocab = tokenizer.get_vocab()
    words = [w[2:] if w.startswith("##") else w for w in vocab if not w.startswith("[")]
    n = max(len(words), 1)
    cased = sum(1 for w in words if w != w.lower()) / n > 0.01
    accented = sum(1 for w in words if ACCENTED.intersection(w)) / n > 0.001
    return cased, accented


def normalize(tokenizer: Any, text: str) -> str:
    """Return `text` as the tokenizer's normalizer sees it (before splitting into pieces)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.normalizer is not None:
        return backend.normalizer.normalize_str(text)
    basic = getattr(tokenizer, "basic_tokenizer", None)
    if basic is not None:
        out = text.lower() if basic.do_lower_case else text
        strip = basic.strip_accents
        if strip or (strip is None and basic.do_lower_case):
            out = "".join(
                c for c in unicodedata.normalize("NFD", out) if unicodedata.category(c) != "Mn"
            )
        return out
    return text


def check_tokenizer(
    tokenizer: Any,
    hf_config: Any,
    *,
    name: str,
    component: str = "transformer",
    max_length: Optional[int] = None,
) -> None:
    """Raise BetoConfigError if the tokenizer breaks BETO's conventions or the model's limits.

    `max_length` is the component's window limit in word pieces (default: the tokenizer's).
    """
    section = f"[components.{component}.model.tokenizer_config]"
    cased, accented = _vocab_profile(tokenizer)
    seen = normalize(tokenizer, PROBE)
    if cased and not any(c.isupper() for c in seen):
        raise BetoConfigError(
            f"The tokenizer of '{name}' lowercases text, but its vocabulary is cased "
            f"(e.g. BETO cased). Capitals would become unknown or wrong word pieces. "
            f"Set do_lower_case = false in {section}."
        )
    if accented and not ACCENTED.intersection(seen):
        raise BetoConfigError(
            f"The tokenizer of '{name}' strips accents ('{PROBE}' -> '{seen}'), but its "
            f"vocabulary contains accented word pieces (as BETO's does). "
            f"Set strip_accents = false in {section}."
        )
    pad_id: Optional[int] = tokenizer.pad_token_id
    if pad_id is None:
        raise BetoConfigError(
            f"The tokenizer of '{name}' has no padding token. Add '[PAD]' to its vocabulary or "
            f'set pad_token = "[PAD]" in {section}.'
        )
    vocab_pad = tokenizer.get_vocab().get("[PAD]")
    if vocab_pad is not None and vocab_pad != pad_id:
        raise BetoConfigError(
            f"The tokenizer of '{name}' pads with id {pad_id} ('{tokenizer.pad_token}'), but "
            f"'[PAD]' has id {vocab_pad} in its vocabulary. Set pad_token = \"[PAD]\" in {section}."
        )
    n_vocab = len(tokenizer)
    rows = getattr(hf_config, "vocab_size", None)
    if rows is not None and n_vocab > rows:
        raise BetoConfigError(
            f"The tokenizer of '{name}' has {n_vocab} entries but the model's embedding matrix has "
            f"only {rows} rows (config.json vocab_size): the vocabulary and the weights do not "
            f"belong together. Use the vocab.txt the model was trained with."
        )
    max_pos = getattr(hf_config, "max_position_embeddings", None)
    max_len = max(tokenizer.model_max_length, max_length or 0)
    if max_pos is not None and max_len > max_pos:
        raise BetoConfigError(
            f"Windows of '{name}' may hold {max_len} word pieces (max_length, or the tokenizer's "
            f"model_max_length), but the model has only {max_pos} positions "
            f"(max_position_embeddings). Set max_length = {max_pos} (or less) in "
            f"[components.{component}.model]."
        )


def fix_pad_id(tokenizer: Any, hf_model: Any, *, name: str) -> None:
    """Make the model's pad id (embedding padding_idx) agree with the tokenizer's."""
    pad_id = tokenizer.pad_token_id
    config = hf_model.config
    if getattr(config, "pad_token_id", None) != pad_id:
        logger.info(
            "Setting pad_token_id=%s for '%s' (config said %s)",
            pad_id,
            name,
            getattr(config, "pad_token_id", None),
        )
        config.pad_token_id = pad_id
        emb = hf_model.get_input_embeddings()
        if hasattr(emb, "padding_idx"):
            emb.padding_idx = pad_id
