"""Inference helper of the BETO transformer: drop doc._.trf_data once the listeners read it."""

from typing import List, Sequence

from spacy.tokens import Doc
from spacy_transformers.layers.listener import forward as listener_forward

# doc.user_data key: how many listening components have yet to read doc._.trf_data.
PENDING_KEY = "spacy_beto.trf_data_pending"


def consuming_listener_forward(model, docs: List[Doc], is_train: bool):
    """TransformerListener forward that, at inference, drops doc._.trf_data after the last
    pending listener read it (see BetoTransformer's keep_trf_data)."""
    outputs, backprop = listener_forward(model, docs, is_train)
    if not is_train:
        release_trf_data(docs)
    return outputs, backprop


def release_trf_data(docs: Sequence[Doc]) -> None:
    """Count one listener's read of each doc's trf_data; drop it after the last pending one.

    A head that skips some docs without running its listener on them calls this for those
    docs, so their trf_data is still dropped."""
    for doc in docs:
        pending = doc.user_data.get(PENDING_KEY)
        if pending is None:
            continue
        if pending <= 1:
            del doc.user_data[PENDING_KEY]
            doc._.trf_data = None
        else:
            doc.user_data[PENDING_KEY] = pending - 1
