"""Dynamic int8 quantization of the BETO encoder's Linear layers, for CPU inference."""

import logging
from typing import List, cast

from spacy.language import Language
from spacy_transformers import Transformer
from spacy_transformers.layers import TransformerModel

from ._compat import quantize_dynamic_int8, replace_torch_module, torch_module

logger = logging.getLogger(__name__)

INT8 = "int8"
# Values of beto_transformer's `quantize` setting (None: fp32).
QUANTIZE_OPTIONS = (None, INT8)


def is_quantized(trf: Transformer) -> bool:
    """Whether the component's encoder is quantized in memory."""
    return bool(trf.model.attrs.get("beto_quantized", False))


def quantize_transformer(trf: Transformer) -> None:
    """Replace the encoder's torch.nn.Linear layers by dynamically quantized int8 ones (CPU)."""
    if is_quantized(trf) or cast(TransformerModel, trf.model).transformer is None:
        return
    wrapper = trf.model.layers[0]
    replace_torch_module(wrapper, quantize_dynamic_int8(torch_module(wrapper)))
    trf.model.attrs["beto_quantized"] = True
    logger.info("Quantized the Linear layers of '%s' to int8", trf.name)


def quantize_pipeline(nlp: Language) -> List[str]:
    """Quantize every transformer component of `nlp` in place; return their names."""
    names = []
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, Transformer):
            quantize_transformer(pipe)
            names.append(name)
    return names
