"""`beto_transformer`: spacy-transformers' Transformer with BETO defaults and checks."""

import contextlib
import multiprocessing
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union, cast

import torch
from huggingface_hub.utils import HFValidationError
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import SimpleFrozenList, minibatch
from spacy.vocab import Vocab
from spacy_transformers import Transformer
from spacy_transformers.annotation_setters import null_annotation_setter
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers import TransformerModel
from spacy_transformers.pipeline_component import install_extensions
from spacy_transformers.util import batch_by_length
from thinc.api import Config, Model, Optimizer

from .._compat import clear_listener, torch_module
from ..errors import BetoConfigError
from ..hub import check_hub_name
from ..layers.fork import install_fork_hook
from ..layers.gc_threshold import raised_gc_threshold
from ..layers.grouping import GROUP_ITEMS
from ..layers.heap import trim_heap as _trim_heap  # module global: tests patch it
from ..layers.model_dir import check_model_dir, load_failure, looks_like_path
from ..layers.prefetch import prefetched
from ..layers.tokenizer_checks import check_tokenizer, fix_pad_id
from ..quantize import INT8, QUANTIZE_OPTIONS, is_quantized, quantize_transformer

# nlp.pipe(n_process=N) forks on Linux: forked children use one torch thread.
install_fork_hook()

# Inference precision of the encoder (`precision` setting): its weights are cast once.
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Device-aware defaults (null in the config): padded spaCy tokens per encoder sub-batch, and
# padded word pieces per length group (0: one call per sub-batch). On a GPU padding costs
# little and every call costs launches: larger sub-batches, no length groups.
CPU_BATCH_ITEMS = 4096
GPU_BATCH_ITEMS = 16384
GPU_GROUP_ITEMS = 0
# Python's generation-0 GC threshold while nlp.pipe runs (layers/gc_threshold.py).
GC_THRESHOLD = 10000


BETO_CASED = "dccuchile/bert-base-spanish-wwm-cased"

DEFAULT_CONFIG_STR = f"""
[model]
@architectures = "spacy-beto.TransformerModel.v1"
name = "{BETO_CASED}"
# BETO was pretrained on 512 positions; longer windows are split, never truncated.
max_length = 512
mixed_precision = false

[model.get_spans]
# As in spaCy's es_dep_news_trf: 128-token windows overlapping by 32 tokens.
@span_getters = "spacy-transformers.strided_spans.v1"
window = 128
stride = 96

[model.tokenizer_config]
use_fast = true
# BETO cased must see capitals and accents: never lowercase, never strip accents.
do_lower_case = false
strip_accents = false

[model.transformer_config]

[model.grad_scaler_config]

[set_extra_annotations]
@annotation_setters = "spacy-transformers.null_annotation_setter.v1"
"""
DEFAULT_CONFIG = Config().from_str(DEFAULT_CONFIG_STR)


def _no_cudnn_attention() -> Any:
    """Scaled-dot-product attention without the cuDNN backend, which torch picks for fp16/bf16
    inputs on Hopper GPUs and which builds an execution plan for every new input shape: on an
    H200, (a) with mixed precision spent 1.6 of 3.4 profiled seconds in
    `aten::_cudnn_attention_forward` (fp32, which runs the memory-efficient kernel: none;
    benchmarks/speed.md). Windows of ever-changing lengths make every batch a new shape."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(
        [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    )


class ScaledOptimizer:
    """Calls an optimizer with its learning rate multiplied by `scale` (thinc's `lr_scale`):
    the encoder's parameters take smaller (or larger) steps than the heads' under the same
    optimizer and schedule."""

    def __init__(self, optimizer: Optimizer, scale: float) -> None:
        self.optimizer = optimizer
        self.scale = scale

    def __call__(self, key: Any, weights: Any, gradient: Any, *, lr_scale: float = 1.0) -> Any:
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)


class BetoTransformer(Transformer):
    """spacy-transformers' Transformer that verifies BETO's tokenizer conventions on init and
    load, and at inference runs the encoder under `torch.inference_mode()` on windows grouped
    by word-piece length (layers/grouping.py).

    `doc._.trf_data` is set for the listening heads; the pipelines drop it with spaCy's
    `doc_cleaner` as their last component. To keep it on the docs, disable or remove that
    component (e.g. `nlp.select_pipes(disable=["doc_cleaner"])`).
    """

    @property
    def trf_model(self) -> TransformerModel:
        """The component's model, typed as spacy-transformers' TransformerModel."""
        return cast(TransformerModel, self.model)

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], FullTransformerBatch],
        set_extra_annotations: Callable = null_annotation_setter,
        *,
        name: str = "transformer",
        max_batch_items: Optional[int] = None,
        group_items: Optional[int] = None,
        inference_mode: bool = True,
        quantize: Optional[str] = None,
        prefetch: Optional[bool] = None,
        precision: str = "fp32",
        gc_threshold: int = GC_THRESHOLD,
        learn_rate_scale: float = 1.0,
    ) -> None:
        if not learn_rate_scale > 0:
            raise BetoConfigError(
                f"Component '{name}': learn_rate_scale must be positive (the encoder's learning "
                f"rate as a multiple of the optimizer's), got {learn_rate_scale}. To keep the "
                f"encoder's weights fixed, list '{name}' in [training] frozen_components."
            )
        if precision not in PRECISIONS:
            raise BetoConfigError(
                f"Component '{name}': precision = {precision!r} is not supported. Use one of "
                f"{', '.join(repr(p) for p in PRECISIONS)} (the encoder's inference precision; "
                f"the heads stay fp32)."
            )
        if quantize is not None and precision != "fp32":
            raise BetoConfigError(
                f"Component '{name}': quantize = {quantize!r} needs precision = \"fp32\" "
                f"(int8 Linear layers), got precision = {precision!r}."
            )
        if gc_threshold < 0:
            raise BetoConfigError(
                f"Component '{name}': gc_threshold must be 0 (leave Python's garbage collector "
                f"alone) or a positive generation-0 threshold, got {gc_threshold}."
            )
        if max_batch_items is not None and max_batch_items < 1:
            raise BetoConfigError(
                f"Component '{name}': max_batch_items must be a positive number of padded "
                f"tokens or null (by device: {CPU_BATCH_ITEMS} on CPU, {GPU_BATCH_ITEMS} on "
                f"GPU), got {max_batch_items}."
            )
        if quantize not in QUANTIZE_OPTIONS:
            raise BetoConfigError(
                f"Component '{name}': quantize = {quantize!r} is not supported. Use "
                f'quantize = "{INT8}" (int8 Linear layers on CPU) or null (fp32).'
            )
        super().__init__(
            vocab,
            model,
            set_extra_annotations,
            name=name,
            max_batch_items=cast(int, max_batch_items),  # None: by device (batch_items)
        )
        self.inference_mode = inference_mode
        self.quantize = quantize
        self.prefetch = prefetch
        self.precision = precision
        self.gc_threshold = gc_threshold
        self.group_items = group_items
        self.learn_rate_scale = learn_rate_scale

    @property
    def group_items(self) -> Optional[int]:
        """Padded word pieces per encoder call at inference (0: one call per batch; None: by
        device, GROUP_ITEMS on CPU, GPU_GROUP_ITEMS on GPU)."""
        return self._group_items

    @group_items.setter
    def group_items(self, value: Optional[int]) -> None:
        if value is not None and value < 0:
            raise BetoConfigError(
                f"Component '{self.name}': group_items must be 0 (one encoder call per batch), "
                f"a positive number of padded word pieces, or null (by device), got {value}."
            )
        self._group_items = value
        self._apply_device_defaults()

    def on_gpu(self) -> bool:
        """Whether the encoder runs on a CUDA device."""
        module = self._torch_module()
        if module is None:
            return False
        param = next(module.parameters(), None)
        return param is not None and param.device.type == "cuda"

    @property
    def batch_items(self) -> int:
        """The padded spaCy tokens per encoder sub-batch in use (max_batch_items, or by
        device when null)."""
        configured = self.cfg.get("max_batch_items")
        if configured is not None:
            return int(configured)
        return GPU_BATCH_ITEMS if self.on_gpu() else CPU_BATCH_ITEMS

    def uses_prefetch(self) -> bool:
        """Whether `pipe` encodes the next batch in a background thread: `prefetch`, or by
        device when null (on a GPU); never in a worker process of nlp.pipe(n_process=N)."""
        if multiprocessing.parent_process() is not None:
            return False
        return self.on_gpu() if self.prefetch is None else bool(self.prefetch)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """spacy-transformers' pipe (sub-batches of at most `batch_items` padded tokens), with
        device-aware defaults; with prefetch, batch k + 1 is tokenized and encoded in a
        background thread while the components downstream process batch k (docs in order).
        Python's cyclic garbage collector runs less often meanwhile (`gc_threshold`)."""
        with raised_gc_threshold(self.gc_threshold):
            if self.uses_prefetch():
                for batch in prefetched(lambda: self._annotated_batches(stream, batch_size)):
                    yield from batch
            else:
                for batch in self._annotated_batches(stream, batch_size):
                    yield from batch

    def _annotated_batches(self, stream: Iterable[Doc], batch_size: int) -> Iterator[List[Doc]]:
        install_extensions()
        self._apply_device_defaults()
        max_items = self.batch_items
        for outer in minibatch(stream, batch_size):
            outer_batch = list(outer)
            for indices in batch_by_length(outer_batch, max_items):
                sub_batch = [outer_batch[i] for i in indices]
                self.set_annotations(sub_batch, self.predict(sub_batch))
            yield outer_batch

    def predict(self, docs: Iterable[Doc]) -> FullTransformerBatch:
        """Run the encoder, without autograd bookkeeping unless `inference_mode` is off, in the
        configured `precision` (weights cast once; outputs fp32 for the heads)."""
        self._apply_precision()
        mode = torch.inference_mode() if self.inference_mode else contextlib.nullcontext()
        attention = _no_cudnn_attention() if self.on_gpu() else contextlib.nullcontext()
        with mode, attention:
            return super().predict(docs)

    def _torch_module(self) -> Optional[torch.nn.Module]:
        if self.trf_model.transformer is None:  # before initialize
            return None
        return torch_module(self.model.layers[0])

    def _apply_device_defaults(self) -> None:
        """Give the grouped forward (layers/grouping.py) its group size for this device."""
        value = self._group_items
        if value is None:
            value = GPU_GROUP_ITEMS if self.on_gpu() else GROUP_ITEMS
        self.model.layers[0].attrs["group_items"] = value

    def _apply_precision(self) -> None:
        """Cast the encoder's weights to `precision` once (not per call, unlike thinc's
        mixed_precision autocast); layers/alignment.py returns its outputs as fp32."""
        dtype = PRECISIONS[self.precision]
        module = self._torch_module()
        if module is None or self.model.attrs.get("beto_precision", "fp32") == self.precision:
            return
        if is_quantized(self):
            return
        module.to(dtype)
        self.model.attrs["beto_precision"] = self.precision

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
    ) -> None:
        """Load the transformer (hub name or directory), fix its pad id and check its tokenizer."""
        name = self.model.attrs["name"]
        local = looks_like_path(str(name))
        if local:
            check_model_dir(Path(name).expanduser(), component=self.name)
        else:  # offline, a hub name fails in seconds instead of ~50 s of retries
            check_hub_name(str(name), setting=f"[components.{self.name}.model] name")
        try:
            super().initialize(get_examples, nlp=nlp)
        except BetoConfigError:
            raise
        except Exception as err:
            if not local and not isinstance(err, (OSError, HFValidationError)):
                raise
            raise load_failure(name, component=self.name, local=local, cause=err) from err
        fix_pad_id(self.trf_model.tokenizer, self.trf_model.transformer, name=name)
        self.verify()

    def update(self, examples: Iterable[Example], **kwargs: Any) -> Any:
        """spacy-transformers' update, after giving the last step's freed memory back to the
        OS: on CPU, training steps of ever-changing shapes otherwise grow RSS by ~10 MB per
        step (glibc heap fragmentation), until the OOM killer stops a long run."""
        self._check_fp32("train it")
        _trim_heap()
        return super().update(examples, **kwargs)

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the encoder's weights, at `learn_rate_scale` times the optimizer's rate."""
        self.model.finish_update(cast(Optimizer, ScaledOptimizer(sgd, self.learn_rate_scale)))

    @contextlib.contextmanager
    def memory_zone(self, mem: Any = None) -> Iterator[None]:
        """Part of `nlp.memory_zone()`: at its end, give freed heap memory back to the OS."""
        try:
            yield
        finally:
            _trim_heap()

    def __reduce__(self) -> Any:
        """Pickle without the batch a listener may still hold from the last update.

        spacy-transformers clears a listener's batch when its head backpropagates; a head that
        skipped its update (e.g. NER on a batch without entity annotation) leaves a closure
        behind that cannot be pickled and is stale anyway.
        """
        for listener in self.listeners:
            clear_listener(listener)
        return super().__reduce__()

    def verify(self) -> None:
        """Raise BetoConfigError if the tokenizer or model limits are misconfigured."""
        check_tokenizer(
            self.trf_model.tokenizer,
            self.trf_model.transformer.config,
            name=self.model.attrs["name"],
            component=self.name,
            max_length=self.model.attrs.get("max_length"),
        )

    def from_disk(
        self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> "BetoTransformer":
        """Load the component from disk, then verify (and quantize) it."""
        with self._loading(f"from '{path}'", hint=f"a truncated '{Path(path) / 'model'}'"):
            super().from_disk(path, exclude=exclude)
        return self

    def from_bytes(
        self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> "BetoTransformer":
        """Load the component from bytes, then verify (and quantize) it."""
        with self._loading("from bytes", hint="bytes cut short or from another component"):
            super().from_bytes(bytes_data, exclude=exclude)
        return self

    @contextlib.contextmanager
    def _loading(self, source: str, *, hint: str) -> Iterator[None]:
        """Around spacy-transformers' from_disk/from_bytes: translate a failure into one
        BetoConfigError, then restore the configured settings that the saved cfg and model
        attrs overwrote (the config wins), verify the tokenizer and window limit, and quantize
        if configured."""
        configured_max_length = self.model.attrs.get("max_length")
        configured_batch_items = self.cfg.get("max_batch_items")
        try:
            yield
        except Exception as err:
            raise BetoConfigError(
                f"Could not load component '{self.name}' {source}: {type(err).__name__}: "
                f"{err}. The saved pipeline is incomplete or corrupt (e.g. {hint}): save it "
                f"again with nlp.to_disk(), or reinstall the packaged pipeline."
            ) from err
        # The config's max_length wins over the value saved with the weights (the windows are
        # fitted to the configured value); verify() checks it against the model.
        if configured_max_length is not None:
            self.model.attrs["max_length"] = configured_max_length
        self.cfg["max_batch_items"] = cast(Any, configured_batch_items)
        self.model.attrs["beto_precision"] = "fp32"  # the loaded weights are fp32
        self.group_items = self._group_items
        if self.trf_model.transformer is not None:
            self.verify()
            if self.quantize == INT8:
                quantize_transformer(self)
            self._apply_precision()

    def to_disk(
        self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> None:
        """Save the component (fp32 weights; see `python -m spacy_beto quantize`)."""
        self._check_not_quantized()
        self._check_fp32("save it")
        super().to_disk(path, exclude=exclude)

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        """Serialize the component (fp32 weights only)."""
        self._check_not_quantized()
        self._check_fp32("serialize it")
        return super().to_bytes(exclude=exclude)

    def _check_fp32(self, action: str) -> None:
        current = self.model.attrs.get("beto_precision", "fp32")
        if current != "fp32":
            raise BetoConfigError(
                f"Component '{self.name}' holds its encoder in {current} for inference "
                f'(precision = {self.precision!r}); {action} with precision = "fp32" '
                f"(e.g. spacy.load(path, config={{'components': {{'{self.name}': "
                f"{{'precision': 'fp32'}}}}}})): the saved weights stay fp32."
            )

    def _check_not_quantized(self) -> None:
        if is_quantized(self):
            raise BetoConfigError(
                f"Component '{self.name}' holds an int8-quantized encoder, which cannot be "
                f"saved. Save the fp32 pipeline and run `python -m spacy_beto quantize IN OUT`: "
                f"the written pipeline keeps fp32 weights and is quantized when loaded."
            )


@Language.factory(
    "beto_transformer",
    assigns=["doc._.trf_data"],
    default_config={
        "model": DEFAULT_CONFIG["model"],
        "set_extra_annotations": DEFAULT_CONFIG["set_extra_annotations"],
        "max_batch_items": None,
        "group_items": None,
        "inference_mode": True,
        "quantize": None,
        "prefetch": None,
        "precision": "fp32",
        "gc_threshold": GC_THRESHOLD,
        "learn_rate_scale": 1.0,
    },
)
def make_beto_transformer(
    nlp: Language,
    name: str,
    *,
    model: Model[List[Doc], FullTransformerBatch],
    set_extra_annotations: Callable[[List[Doc], FullTransformerBatch], None],
    max_batch_items: Optional[int],
    group_items: Optional[int],
    inference_mode: bool,
    quantize: Optional[str],
    prefetch: Optional[bool],
    precision: str,
    gc_threshold: int,
    learn_rate_scale: float,
) -> BetoTransformer:
    """Create the BETO transformer embedding layer that `beto_ner` and `beto_textcat` listen to.

    `max_batch_items`: padded tokens per sub-batch of documents (spacy-transformers' setting);
    null: 4,096 on CPU, 16,384 on GPU.
    `group_items`: padded word pieces per encoder call at inference; the windows are encoded in
    groups of similar length (layers/grouping.py); 0 runs one call per sub-batch; null: 4,096
    on CPU (padding costs compute there), 0 on GPU.
    `prefetch`: in `nlp.pipe`, encode the next batch in a background thread while the heads
    process the current one; null: on a GPU only.
    `precision`: "fp32", "bf16" or "fp16": the encoder's weights are cast once for inference
    (its outputs are fp32 for the heads); a pipeline in bf16/fp16 cannot be trained or saved.
    `gc_threshold`: while `nlp.pipe` runs, Python's generation-0 garbage-collection threshold
    is raised to at least this (restored after): the collector then re-traverses the docs in
    flight ~40x less often (~17 % of the pipeline around a cheap encoder); 0 leaves Python's
    thresholds alone.
    `inference_mode`: run the encoder under torch.inference_mode() at inference.
    `quantize`: "int8" quantizes the encoder's Linear layers when the pipeline is loaded (CPU;
    written by `python -m spacy_beto quantize`); null keeps fp32.
    `learn_rate_scale`: in training, the encoder's learning rate as a multiple of the
    optimizer's (the heads keep the optimizer's): below 1 fine-tunes a pretrained encoder
    gently while heads that start from random weights learn fast ("discriminative
    fine-tuning", Howard & Ruder 2018).

    The component sets doc._.trf_data for the heads; add spaCy's `doc_cleaner` as the last
    component to drop it (the shipped configs and `add_to` do), and disable that component to
    keep it. None of these settings changes entities or categories."""
    return BetoTransformer(
        nlp.vocab,
        model,
        set_extra_annotations,
        name=name,
        max_batch_items=max_batch_items,
        group_items=group_items,
        inference_mode=inference_mode,
        quantize=quantize,
        prefetch=prefetch,
        precision=precision,
        gc_threshold=gc_threshold,
        learn_rate_scale=learn_rate_scale,
    )
