"""Dynamic int8 quantization of the BETO encoder's Linear layers, for CPU inference."""

import logging
from typing import List

from spacy.language import Language
from spacy_transformers import Transformer

logger = logging.getLogger(__name__)

QUANTIZE_KEY = "quantize"
INT8 = "int8"


def is_quantized(trf: Transformer) -> bool:
    """Whether the component's encoder is quantized in memory."""
    return bool(trf.model.attrs.get("beto_quantized", False))


def quantize_transformer(trf: Transformer) -> None:
    """Replace the encoder's torch.nn.Linear layers by dynamically quantized int8 ones (CPU)."""
    import torch

    if is_quantized(trf) or trf.model.transformer is None:
        return
    shim = trf.model.layers[0].shims[0]
    quantized = torch.ao.quantization.quantize_dynamic(
        shim._model, {torch.nn.Linear}, dtype=torch.qint8
    )
    shim._model = quantized
    shim._hfmodel.transformer = quantized
    trf.model.attrs["beto_quantized"] = True
    trf.cfg[QUANTIZE_KEY] = INT8
    logger.info("Quantized the Linear layers of '%s' to int8", trf.name)


def quantize_pipeline(nlp: Language) -> List[str]:
    """Quantize every transformer component of `nlp` in place; return their names."""
    names = []
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, Transformer):
            quantize_transformer(pipe)
            names.append(name)
    return names
