"""`beto_transformer`: spacy-transformers' Transformer with BETO defaults and checks."""

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union, cast

import torch
from huggingface_hub.utils import HFValidationError
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import SimpleFrozenList
from spacy.vocab import Vocab
from spacy_transformers import Transformer
from spacy_transformers.annotation_setters import null_annotation_setter
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers import TransformerModel
from thinc.api import Config, Model

from .._compat import clear_listener
from ..errors import BetoConfigError
from ..hub import check_hub_name
from ..layers.fork import install_fork_hook
from ..layers.grouping import GROUP_ITEMS
from ..layers.heap import trim_heap as _trim_heap  # module global: tests patch it
from ..layers.model_dir import check_model_dir, load_failure, looks_like_path
from ..layers.tokenizer_checks import check_tokenizer, fix_pad_id
from ..quantize import INT8, QUANTIZE_OPTIONS, is_quantized, quantize_transformer

# nlp.pipe(n_process=N) forks on Linux: forked children use one torch thread.
install_fork_hook()


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
        max_batch_items: int = 4096,
        group_items: int = GROUP_ITEMS,
        inference_mode: bool = True,
        quantize: Optional[str] = None,
    ) -> None:
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
            max_batch_items=max_batch_items,
        )
        self.inference_mode = inference_mode
        self.quantize = quantize
        self.group_items = group_items

    @property
    def group_items(self) -> int:
        """Padded word pieces per encoder call at inference (0: one call per batch)."""
        return self._group_items

    @group_items.setter
    def group_items(self, value: int) -> None:
        if value < 0:
            raise BetoConfigError(
                f"Component '{self.name}': group_items must be 0 (one encoder call per batch) "
                f"or a positive number of padded word pieces, got {value}."
            )
        self._group_items = value
        # Read by the grouped forward of the encoder layer (layers/grouping.py).
        self.model.layers[0].attrs["group_items"] = value

    def predict(self, docs: Iterable[Doc]) -> FullTransformerBatch:
        """Run the encoder, without autograd bookkeeping unless `inference_mode` is off."""
        mode = torch.inference_mode() if self.inference_mode else contextlib.nullcontext()
        with mode:
            return super().predict(docs)

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
        _trim_heap()
        return super().update(examples, **kwargs)

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
        configured_batch_items = self.cfg["max_batch_items"]
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
        self.cfg["max_batch_items"] = configured_batch_items
        self.group_items = self._group_items
        if self.trf_model.transformer is not None:
            self.verify()
            if self.quantize == INT8:
                quantize_transformer(self)

    def to_disk(
        self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> None:
        """Save the component (fp32 weights; see `python -m spacy_beto quantize`)."""
        self._check_not_quantized()
        super().to_disk(path, exclude=exclude)

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        """Serialize the component (fp32 weights only)."""
        self._check_not_quantized()
        return super().to_bytes(exclude=exclude)

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
        "max_batch_items": 4096,
        "group_items": GROUP_ITEMS,
        "inference_mode": True,
        "quantize": None,
    },
)
def make_beto_transformer(
    nlp: Language,
    name: str,
    *,
    model: Model[List[Doc], FullTransformerBatch],
    set_extra_annotations: Callable[[List[Doc], FullTransformerBatch], None],
    max_batch_items: int,
    group_items: int,
    inference_mode: bool,
    quantize: Optional[str],
) -> BetoTransformer:
    """Create the BETO transformer embedding layer that `beto_ner` and `beto_textcat` listen to.

    `max_batch_items`: padded tokens per sub-batch of documents (spacy-transformers' setting).
    `group_items`: padded word pieces per encoder call at inference; the windows are encoded in
    groups of similar length (layers/grouping.py); 0 runs one call per sub-batch.
    `inference_mode`: run the encoder under torch.inference_mode() at inference.
    `quantize`: "int8" quantizes the encoder's Linear layers when the pipeline is loaded (CPU;
    written by `python -m spacy_beto quantize`); null keeps fp32.

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
    )
