"""`beto_transformer`: spacy-transformers' Transformer with BETO defaults and checks."""

import contextlib
import ctypes
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union

from huggingface_hub.errors import HFValidationError
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import SimpleFrozenList, minibatch
from spacy.vocab import Vocab
from spacy_transformers import Transformer
from spacy_transformers.data_classes import FullTransformerBatch
from spacy_transformers.layers.listener import TransformerListener
from spacy_transformers.pipeline_component import install_extensions
from spacy_transformers.util import batch_by_length
from thinc.api import Config, Model

from ..errors import BetoConfigError
from ..layers.grouping import GROUP_ITEMS
from ..layers.inference import PENDING_KEY, consuming_listener_forward
from ..layers.model_dir import check_model_dir, looks_like_path
from ..layers.tokenizer_checks import check_tokenizer, fix_pad_id
from ..quantize import INT8, QUANTIZE_KEY, is_quantized, quantize_transformer

logger = logging.getLogger(__name__)

_pid = os.getpid()


def _one_torch_thread_after_fork() -> None:
    """In a forked child (e.g. nlp.pipe(n_process=2) on Linux), use one torch thread.

    torch's intra-op thread pool does not survive fork: the child's first parallel op hangs.
    """
    global _pid
    pid = os.getpid()
    if pid == _pid:
        return
    _pid = pid
    import torch

    if torch.get_num_threads() > 1:
        logger.info(
            "Process %d was forked: torch set to 1 thread (its pool does not survive fork)", pid
        )
        torch.set_num_threads(1)


def _trim_heap() -> None:
    """Return freed heap memory to the OS (glibc's malloc_trim; a no-op elsewhere).

    Tensors of ever-changing shapes leave glibc's heap fragmented: freed memory stays in the
    process and RSS creeps up over long runs although nothing is leaked.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return
    trim(0)


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
    """A Transformer component that verifies BETO's tokenizer conventions on init and load.

    At inference, documents are batched by length within the `pipe` buffer (order preserved),
    the encoder runs under `torch.inference_mode()` on windows grouped by word-piece length
    (no compute on padding), and unless `keep_trf_data` is set,
    `doc._.trf_data` is dropped once every listening component has read it.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], FullTransformerBatch],
        set_extra_annotations: Callable = lambda docs, trf_data: None,
        *,
        name: str = "transformer",
        max_batch_items: int = 4096,
        keep_trf_data: bool = False,
    ) -> None:
        super().__init__(
            vocab,
            model,
            set_extra_annotations,
            name=name,
            max_batch_items=max_batch_items,
        )
        self.cfg["keep_trf_data"] = keep_trf_data

    @property
    def keep_trf_data(self) -> bool:
        """Whether doc._.trf_data stays on the docs after the listeners read it."""
        return bool(self.cfg.get("keep_trf_data", True))

    def add_listener(self, listener: TransformerListener, component_name: str) -> None:
        """Add a listener; at inference it counts its reads so trf_data can be dropped."""
        super().add_listener(listener, component_name)
        listener._func = consuming_listener_forward

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate docs in buffers of `batch_size`, run in length-sorted sub-batches of at
        most `max_batch_items` tokens; yield them in input order."""
        install_extensions()
        for outer in minibatch(stream, batch_size):
            outer = list(outer)
            for indices in batch_by_length(outer, self.cfg["max_batch_items"]):
                subbatch = [outer[i] for i in indices]
                self.set_annotations(subbatch, self.predict(subbatch))
            yield from outer

    def predict(self, docs: Iterable[Doc]) -> FullTransformerBatch:
        """Run the encoder without autograd bookkeeping (torch.inference_mode), its windows in
        length groups (layers/grouping.py); in a forked process, first limit torch to one
        thread."""
        _one_torch_thread_after_fork()
        # Padded word pieces per encoder call (0: one call per batch, as spacy-transformers).
        self.model.layers[0].attrs["group_items"] = self.cfg.get("group_items", GROUP_ITEMS)
        if not self.cfg.get("inference_mode", True):
            return super().predict(docs)
        import torch

        with torch.inference_mode():
            return super().predict(docs)

    def set_annotations(self, docs: Iterable[Doc], predictions: FullTransformerBatch) -> None:
        """Set doc._.trf_data; without keep_trf_data, mark it to drop after the listeners."""
        docs = list(docs)
        super().set_annotations(docs, predictions)
        n_listening = len(self.listening_components)
        if not self.keep_trf_data and n_listening:
            for doc in docs:
                doc.user_data[PENDING_KEY] = n_listening

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
        try:
            super().initialize(get_examples, nlp=nlp)
        except BetoConfigError:
            raise
        except Exception as err:
            if not local and not isinstance(err, (OSError, HFValidationError)):
                raise
            if local:
                raise BetoConfigError(
                    f"Could not load the transformer in '{name}' for component '{self.name}': "
                    f"{type(err).__name__}: {err}. A file in the directory is truncated or "
                    f"corrupt (e.g. an interrupted copy of the weights): copy the model again "
                    f"or rebuild it with `python -m spacy_beto build-mini`."
                ) from err
            raise BetoConfigError(
                f"Could not load the transformer '{name}' for component '{self.name}'. It is not "
                f"a local directory with config.json, tokenizer and weights, and it could not be "
                f"fetched from the Hugging Face hub (offline, or the name is wrong). Set "
                f"[components.{self.name}.model] name to a local model directory, e.g. one built "
                f"by `python -m spacy_beto build-mini`. Cause: {err}"
            ) from err
        fix_pad_id(self.model.tokenizer, self.model.transformer, name=name)
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
            listener._batch_id = None
            listener._outputs = None
            listener._backprop = None
        return super().__reduce__()

    def _keep_configured_max_length(self, configured: Optional[int]) -> None:
        """The config's max_length wins over the value saved with the weights (the windows are
        already fitted to the configured value); verify() then checks it against the model."""
        if configured is not None:
            self.model.attrs["max_length"] = configured

    def verify(self) -> None:
        """Raise BetoConfigError if the tokenizer or model limits are misconfigured."""
        check_tokenizer(
            self.model.tokenizer,
            self.model.transformer.config,
            name=self.model.attrs["name"],
            component=self.name,
            max_length=self.model.attrs.get("max_length"),
        )

    def from_disk(
        self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> "BetoTransformer":
        """Load the component from disk and verify its tokenizer and window limit."""
        configured = self.model.attrs.get("max_length")
        try:
            super().from_disk(path, exclude=exclude)
        except Exception as err:
            raise BetoConfigError(
                f"Could not load component '{self.name}' from '{path}': {type(err).__name__}: "
                f"{err}. The saved pipeline is incomplete or corrupt (e.g. a truncated "
                f"'{Path(path) / 'model'}'): save it again with nlp.to_disk(), or reinstall "
                f"the packaged pipeline."
            ) from err
        self._keep_configured_max_length(configured)
        if self.model.transformer is not None:
            self.verify()
            self._maybe_quantize()
        return self

    def from_bytes(
        self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()
    ) -> "BetoTransformer":
        """Load the component from bytes and verify its tokenizer and window limit."""
        configured = self.model.attrs.get("max_length")
        super().from_bytes(bytes_data, exclude=exclude)
        self._keep_configured_max_length(configured)
        if self.model.transformer is not None:
            self.verify()
            self._maybe_quantize()
        return self

    def _maybe_quantize(self) -> None:
        if self.cfg.get(QUANTIZE_KEY) == INT8:
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
        "keep_trf_data": False,
    },
)
def make_beto_transformer(
    nlp: Language,
    name: str,
    model: Model[List[Doc], FullTransformerBatch],
    set_extra_annotations: Callable[[List[Doc], FullTransformerBatch], None],
    max_batch_items: int,
    keep_trf_data: bool,
) -> BetoTransformer:
    """Create the BETO transformer embedding layer that `beto_ner` and `beto_textcat` listen to.

    `max_batch_items`: padded tokens per batch of documents (its windows are encoded in groups
    of similar word-piece length, layers/grouping.py). `keep_trf_data`: keep the full
    transformer outputs in doc._.trf_data after the listening components ran (memory grows with
    every kept doc); by default they are dropped once all listeners have read them."""
    return BetoTransformer(
        nlp.vocab,
        model,
        set_extra_annotations,
        max_batch_items=max_batch_items,
        keep_trf_data=keep_trf_data,
        name=name,
    )
