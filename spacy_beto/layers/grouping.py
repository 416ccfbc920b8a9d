"""Encode transformer windows in length-sorted groups at inference: no compute on padding.

spacy-transformers runs all windows of a batch of docs as one tensor, padded to the longest
window: a tweet next to a 128-token window pays for ~100 pieces of padding. At inference the
windows are sorted by length and encoded in groups that waste little on padding; the outputs
are put back in the batch's order and shape, so alignment and listeners see the same batch.
Training keeps one call (one backward pass).
"""

from typing import Any, Callable, List, Sequence, Tuple

from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model

from .._compat import hf_objects
from .._compat import pytorch_wrapper_forward as pt_forward

# Padded word pieces per encoder call, and the padding a group may waste once it holds
# MIN_GROUP_ITEMS pieces (smaller groups keep the matrix products efficient).
GROUP_ITEMS = 4096
MAX_WASTE = 0.1
MIN_GROUP_ITEMS = 512


def length_groups(
    lengths: Sequence[int],
    *,
    max_items: int = GROUP_ITEMS,
    max_waste: float = MAX_WASTE,
    min_items: int = MIN_GROUP_ITEMS,
) -> List[List[int]]:
    """Indices sorted by length, grouped so that each group pads to at most `max_items`
    (a longer sequence gets a group of its own) and, once it holds `min_items`, wastes at
    most `max_waste` of its padded size."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: List[List[int]] = []
    group: List[int] = []
    total = 0
    for i in order:
        n = lengths[i]
        padded = n * (len(group) + 1)
        if group and (
            padded > max_items or (total >= min_items and padded - total - n > max_waste * padded)
        ):
            groups.append(group)
            group, total = [], 0
        group.append(i)
        total += n
    if group:
        groups.append(group)
    return groups


def grouped_forward(
    model: Model, wordpieces: WordpieceBatch, is_train: bool
) -> Tuple[Any, Callable]:
    """The HF wrapper's forward; at inference, in length groups (see module docstring).

    `model.attrs["group_items"]` caps the padded pieces per call; 0 runs one call."""
    max_items = model.attrs.get("group_items", GROUP_ITEMS)
    if is_train or not max_items or len(wordpieces) < 2 or _outputs_attentions(model):
        return pt_forward(model, wordpieces, is_train)
    min_items = min(MIN_GROUP_ITEMS, max_items // 8)
    groups = length_groups(wordpieces.lengths, max_items=max_items, min_items=min_items)
    width = wordpieces.input_ids.shape[1]
    if len(groups) == 1 and max(wordpieces.lengths) == width:
        return pt_forward(model, wordpieces, is_train)
    outputs = [(group, pt_forward(model, _select(wordpieces, group), False)[0]) for group in groups]
    return _merge(outputs, n=len(wordpieces), width=width), _no_backprop


def _outputs_attentions(model: Model) -> bool:
    hf = hf_objects(model)
    config = getattr(getattr(hf, "transformer", None), "config", None)
    return bool(getattr(config, "output_attentions", False))


def _select(wordpieces: WordpieceBatch, rows: List[int]) -> WordpieceBatch:
    """The rows `rows` of a padded batch, cut to their own longest length."""
    width = max(wordpieces.lengths[i] for i in rows)
    type_ids = wordpieces.token_type_ids
    return WordpieceBatch(
        strings=[wordpieces.strings[i][:width] for i in rows],
        input_ids=wordpieces.input_ids[rows, :width],
        attention_mask=wordpieces.attention_mask[rows, :width],
        lengths=[wordpieces.lengths[i] for i in rows],
        token_type_ids=type_ids[rows, :width] if type_ids is not None else None,
    )


def _merge(outputs: List[Tuple[List[int], Any]], *, n: int, width: int) -> Any:
    """One model output for the whole batch: rows in batch order, sequences padded (with
    zeros) to `width`."""
    import torch

    first = outputs[0][1]
    merged = {}
    for key in first.keys():
        values = [(group, out[key]) for group, out in outputs]
        if isinstance(values[0][1], tuple):
            merged[key] = tuple(
                _merge_tensors([(g, v[j]) for g, v in values], n=n, width=width)
                for j in range(len(values[0][1]))
            )
        elif isinstance(values[0][1], torch.Tensor):
            merged[key] = _merge_tensors(values, n=n, width=width)
    return type(first)(**merged)


def _merge_tensors(values: List[Tuple[List[int], Any]], *, n: int, width: int) -> Any:
    import torch

    sample = values[0][1]
    per_token = sample.dim() >= 3  # (rows, pieces, hidden); pooled outputs are (rows, hidden)
    shape = (n, width, *sample.shape[2:]) if per_token else (n, *sample.shape[1:])
    result = sample.new_zeros(shape)
    for group, tensor in values:
        rows = torch.as_tensor(group, device=tensor.device)
        if per_token:
            result[rows, : tensor.shape[1]] = tensor
        else:
            result[rows] = tensor
    return result


def _no_backprop(d_output: Any) -> Any:
    raise ValueError("The grouped transformer forward runs at inference only: no backprop.")
