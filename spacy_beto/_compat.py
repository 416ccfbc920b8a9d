"""The one place that touches private parts of spaCy, spacy-transformers, thinc and torch.

Each name below relies on an upstream detail that is not public API; the comment above it says
which. `tests/test_upstream_contract.py` checks every one of them, so an upstream release that
changes one fails a test named after it instead of breaking far from the cause.
"""

import warnings
from typing import Any, Callable, Dict, cast

from spacy.errors import Errors

# spaCy: the transition system type of `moves` in the ner factory (spaCy's own factory uses it).
from spacy.pipeline._parser_internals.transition_system import TransitionSystem

# spacy-transformers: the pieces of TransformerModel's forward (transformer_model.forward) that
# layers/alignment.py re-assembles with a vectorised alignment (tests/test_upstream_contract.py
# compares the two forwards' FullTransformerBatch): tokenization of the window texts, the
# string-based alignment (used when the tokenizer gives no offsets), the split of windows longer
# than the model's limit, the cache flush and the GPU-memory / batch-size logging.
from spacy_transformers.align import get_alignment
from spacy_transformers.layers.transformer_model import forward as transformer_model_forward
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from spacy_transformers.util import log_batch_size, log_gpu_memory, maybe_flush_pytorch_cache

# thinc: PyTorchWrapper's forward, which HFWrapper (the HF encoder layer) runs by default.
from thinc.layers.pytorchwrapper import forward as pytorch_wrapper_forward
from thinc.model import Model

__all__ = [
    "TEXTCAT_HOOKS",
    "TransitionSystem",
    "beam_batch",
    "clear_listener",
    "get_alignment",
    "hf_objects",
    "huggingface_tokenize",
    "log_batch_size",
    "log_gpu_memory",
    "maybe_flush_pytorch_cache",
    "pytorch_wrapper_forward",
    "quantize_dynamic_int8",
    "replace_torch_module",
    "set_forward",
    "textcat_exclusive_error",
    "textcat_value_error",
    "torch_module",
    "transformer_model_forward",
    "truncate_oversize_splits",
]

# spaCy: TextCategorizer.initialize/update/rehearse call these private methods, which
# BetoTextCategorizer overrides (own labels only; missing categories).
TEXTCAT_HOOKS = ("_validate_categories", "_examples_to_truth")


def set_forward(model: Model, forward: Callable) -> None:
    """Replace a thinc model's forward function.

    thinc: a Model keeps its forward in the `_func` slot; __call__/predict/begin_update call it.
    """
    model._func = forward


def hf_objects(wrapper: Model) -> Any:
    """The HFObjects (tokenizer, transformer, configs) of an HFWrapper layer.

    spacy-transformers: HFShim keeps them in `_hfmodel` (TransformerModel.tokenizer reads it).
    """
    return cast(Any, wrapper.shims[0])._hfmodel


def torch_module(wrapper: Model) -> Any:
    """The torch module an HFWrapper layer runs.

    thinc: PyTorchShim keeps it in `_model` (its __call__ and to_bytes use it).
    """
    return wrapper.shims[0]._model


def replace_torch_module(wrapper: Model, module: Any) -> None:
    """Make an HFWrapper layer run `module` (e.g. a quantized copy of its encoder).

    thinc/spacy-transformers: the shim runs `_model` and exposes `_hfmodel.transformer`.
    """
    shim = cast(Any, wrapper.shims[0])
    shim._model = module
    shim._hfmodel.transformer = module


def clear_listener(listener: Any) -> None:
    """Drop the batch, outputs and backprop callback a TransformerListener holds.

    spacy-transformers: `receive(batch_id, outputs, backprop)` sets the private `_batch_id`,
    `_outputs` and `_backprop` that the listener's forward reads during training.
    """
    listener.receive(None, None, None)


def textcat_value_error(value: Any) -> ValueError:
    """spaCy's error for a gold category value other than 0 or 1 (error code E851)."""
    return ValueError(Errors.E851.format(val=value))


def textcat_exclusive_error(cats: Dict[str, float]) -> ValueError:
    """spaCy's error for several positive categories with exclusive classes (code E895)."""
    return ValueError(Errors.E895.format(value=cats))


# torch 2.13 deprecates torch.ao.quantization and quantized tensors, and offers no replacement
# in torch itself (the successor is the separate torchao package). Until then, quantizing warns
# twice; these are exactly the two warnings silenced around the one call below.
_QUANTIZATION_DEPRECATIONS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel"),
)


def quantize_dynamic_int8(module: Any) -> Any:
    """A copy of `module` whose torch.nn.Linear layers are dynamically quantized to int8.

    torch: torch.ao.quantization.quantize_dynamic (deprecated in torch 2.13, see above).
    """
    import torch

    with warnings.catch_warnings():
        for category, message in _QUANTIZATION_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=category)
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)


def beam_batch(moves: Any, states: Any, width: int) -> Any:
    """A beam of `width` over parse states, without gold and with density 0 (entity scores).

    spaCy: the private `_parser_internals._beam_utils.BeamBatch(moves, states, golds, width,
    density=...)`, built as `Parser.beam_parse` builds it (spaCy 3.8).
    """
    from spacy.pipeline._parser_internals._beam_utils import BeamBatch

    return BeamBatch(moves, states, None, width, density=0.0)
