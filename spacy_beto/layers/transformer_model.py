"""The BETO transformer architecture: spacy-transformers' model with length-safe windows."""

import copy
from typing import Any, Callable, Dict, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers import TransformerModel, split_trf_batch, trfs2arrays
from thinc.api import Model, chain
from thinc.types import Floats2d, Ragged

from .._compat import hf_objects, set_forward
from .alignment import forward as beto_forward
from .grouping import GROUP_ITEMS, grouped_forward
from .span_fitting import LengthFittedSpans


class BetoTransformerModel(TransformerModel):
    """TransformerModel whose windows never exceed `max_length` word pieces."""

    def __init__(
        self,
        name: str,
        get_spans: Callable,
        tokenizer_config: Dict[str, Any],
        transformer_config: Dict[str, Any],
        mixed_precision: bool,
        grad_scaler_config: Dict[str, Any],
        *,
        max_length: int,
    ) -> None:
        tok_cfg = {"model_max_length": max_length, **tokenizer_config}
        super().__init__(
            name,
            get_spans,
            tok_cfg,
            dict(transformer_config),
            mixed_precision,
            dict(grad_scaler_config),
        )
        # Tokens without word pieces (control/zero-width characters) get their window's [CLS].
        set_forward(self, beto_forward)
        # At inference the encoder runs the windows in length groups (see layers/grouping.py).
        set_forward(self.layers[0], grouped_forward)
        self.layers[0].attrs["group_items"] = GROUP_ITEMS
        self.attrs["base_get_spans"] = get_spans
        self.attrs["max_length"] = max_length
        self.attrs["get_spans"] = LengthFittedSpans(get_spans, self, max_length)
        self.attrs["replace_listener_cfg"] = replace_listener_cfg
        self._beto_args = (tok_cfg, transformer_config, mixed_precision, grad_scaler_config)

    @property
    def tokenizer(self):
        hf = hf_objects(self.layers[0])
        return hf.tokenizer if hf is not None else None

    def copy(self) -> "BetoTransformerModel":
        tok_cfg, trf_cfg, mixed, scaler = self._beto_args
        copied = BetoTransformerModel(
            self.name,
            self.attrs["base_get_spans"],
            tok_cfg,
            trf_cfg,
            mixed,
            scaler,
            max_length=self.attrs["max_length"],
        )
        for dim in self.dim_names:
            if self.has_dim(dim):
                copied.set_dim(dim, self.get_dim(dim))
        copied.layers[0] = copy.deepcopy(self.layers[0])
        copied.attrs["has_transformer"] = self.attrs["has_transformer"]
        return copied


def replace_listener_cfg(tok2vec_model_cfg: Dict[str, Any], listener_model_cfg: Dict[str, Any]):
    """Config of the tok2vec that replaces a listener (see Language.replace_listeners)."""
    result = dict(tok2vec_model_cfg)
    result["@architectures"] = "spacy-beto.Tok2VecTransformer.v1"
    for key in ("pooling", "grad_factor"):
        if key in listener_model_cfg:
            result[key] = listener_model_cfg[key]
    return result


@registry.architectures("spacy-beto.TransformerModel.v1")
def create_beto_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any],
    transformer_config: Dict[str, Any],
    mixed_precision: bool = False,
    grad_scaler_config: Optional[Dict[str, Any]] = None,
    max_length: int = 512,
) -> Model[List[Doc], FullTransformerBatch]:
    """A Hugging Face transformer (hub name or local directory) with windows of at most
    `max_length` word pieces: longer windows are split, never truncated."""
    return BetoTransformerModel(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config or {},
        max_length=max_length,
    )


@registry.architectures("spacy-beto.Tok2VecTransformer.v1")
def create_beto_tok2vec_transformer(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any],
    transformer_config: Dict[str, Any],
    pooling: Model[Ragged, Floats2d],
    grad_factor: float = 1.0,
    mixed_precision: bool = False,
    grad_scaler_config: Optional[Dict[str, Any]] = None,
    max_length: int = 512,
) -> Model[List[Doc], List[Floats2d]]:
    """A private copy of the BETO transformer used directly as a component's tok2vec."""
    trf = create_beto_transformer_model(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
        max_length,
    )
    # Same structure as a listener replaced in place by Language.replace_listeners:
    # chain(chain(transformer, split), pooling), so saved weights load back.
    return chain(chain(trf, split_trf_batch()), trfs2arrays(pooling, grad_factor))
