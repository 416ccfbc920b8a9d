"""The `beto_token_ner` component: entities by token classification, as BETO's published NER
results and Hugging Face's token-classification pipelines do.

A softmax over BILUO tags (`O` and B-/I-/L-/U- per label) per token on the transformer's token
vectors (spaCy's `spacy.Tagger.v2`: one matmul over every token of the batch), trained with
cross-entropy against the gold BILUO tags (`Example.get_aligned_ner`; missing and misaligned
tokens give no gradient). Decoding (`components/biluo.py`) is vectorised over the batch: the
argmax tag of every token, a check of every transition against the BILUO constraints, and a
constrained Viterbi only for the documents whose argmax sequence is not valid. Entities that
are already set (e.g. by an `entity_ruler` before it) are kept, and no entity is predicted
over their tokens, as spaCy's `ner` does.

Entity scores are on by default (they cost a few array operations): an entity's raw score is
the geometric mean of the probabilities of its tokens' chosen tags, mapped through the Platt
calibration fitted by `python -m spacy_beto calibrate`. The geometric mean separated right from
wrong entities best of the scores tried on CoNLL-2002 (AUROC 0.775, against 0.675 for the plain
product, which penalises long entities, and 0.740 for the lowest token probability;
benchmarks/token_ner_scores.py, benchmarks/calibration-token-ner.md). They are published as
`beto_ner` does (`components/entity_scores.py`): `doc.spans["ents_scored"]` with
`attrs["scores"]` and `attrs["raw_scores"]`, `ent._.score`, and `doc.spans["ents_candidates"]`:
single-token entities (U-X) the model gave at least `candidate_threshold` where it chose
otherwise.
Entities preset by another component are not scored (their `ent._.score` is None).
"""

import logging
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

import numpy
from spacy.attrs import ENT_IOB
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats2d

from ..errors import BetoConfigError
from . import biluo
from .entity_scores import EntityScoresMixin, check_candidate_threshold, publish_entity_scores
from .labels import check_entity_labels_in_data, label_names
from .listener import LISTENER_CONFIG_STR

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_NER_CONFIG_STR = (
    """
[model]
@architectures = "spacy.Tagger.v2"
# null: 1 + 4 x the number of labels, set at initialize
nO = null
# Must be true: the decoder and the entity scores read probabilities.
normalize = true
"""
    + LISTENER_CONFIG_STR
)
DEFAULT_TOKEN_NER_MODEL = Config().from_str(DEFAULT_TOKEN_NER_CONFIG_STR)["model"]


@dataclass
class TagBatch:
    """What `predict` returns: the decoded tag of every token of the batch (documents
    concatenated), the tag probabilities, the tokens inside preset entities, and the number of
    tokens of each document."""

    lengths: numpy.ndarray  # (D,)
    tags: numpy.ndarray  # (N,)
    probs: numpy.ndarray  # (N, T) float32
    preset: numpy.ndarray  # (N,) bool


class BetoTokenEntityRecognizer(EntityScoresMixin, TrainablePipe):
    """Entity recognition as BILUO token classification (see the module docstring).

    `entity_scores`, `candidate_threshold`: factory settings. `cfg["labels"]`: the entity
    labels; `cfg["calibration"]`: the Platt map fitted by `calibrate` (None: raw scores)."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "ner",
        *,
        entity_scores: bool = True,
        candidate_threshold: float = 0.1,
        scorer: Optional[Callable] = None,
    ) -> None:
        check_candidate_threshold(candidate_threshold, component=name)
        if any(node.attrs.get("softmax_normalize") is False for node in model.walk()):
            raise BetoConfigError(
                f"Component '{name}': the model's softmax gives unnormalized scores at "
                f"inference (normalize = false), but entities and their scores are decoded from "
                f"probabilities. Set [components.{name}.model] normalize = true."
            )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": [], "calibration": None}
        self.entity_scores = entity_scores
        self.candidate_threshold = candidate_threshold
        self._warned_unknown: Set[str] = set()

    # ------------------------------------------------------------------ labels

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> Tuple[str, ...]:
        return self.labels

    @property
    def tag_names(self) -> List[str]:
        """ "O", then B-/I-/L-/U- of each label (the order of the model's outputs)."""
        return biluo.tag_names(self.labels)

    @property
    def tables(self) -> biluo.BiluoTables:
        tables = getattr(self, "_tables", None)
        if tables is None or tables.n_tags != 1 + 4 * len(self.labels):
            tables = self._tables = biluo.BiluoTables.build(len(self.labels))
        return tables

    def _model_width(self) -> Optional[int]:
        """The number of outputs the model is built with (None: not set yet)."""
        return self.model.get_dim("nO") if self.model.has_dim("nO") is True else None

    def add_label(self, label: str) -> int:
        """Add an entity label (its four tags) before `initialize`; 0 if it is there."""
        if not isinstance(label, str) or not label:
            raise BetoConfigError(f"Component '{self.name}': {label!r} is not a label name.")
        if label in self.labels:
            return 0
        if self._model_width() == len(self.tag_names):  # the output layer is sized already
            raise BetoConfigError(
                f"Component '{self.name}': cannot add the label {label!r} after the model is "
                f"initialized with {len(self.labels)} labels. Give every label before "
                f"initialize (add_label or [initialize.components.{self.name}] labels)."
            )
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Any] = None,
    ) -> None:
        """Labels from `labels` (every one must occur in the data) or else from the gold
        entities of the examples; then the model, with 1 + 4 x labels outputs."""
        validate_get_examples(get_examples, "BetoTokenEntityRecognizer.initialize")
        if labels is not None:
            check_entity_labels_in_data(labels, get_examples, component=self.name)
            names = label_names(labels)
        else:
            names = sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents})
        wanted = list(dict.fromkeys([*self.labels, *names]))
        if not wanted:
            raise BetoConfigError(
                f"Component '{self.name}': no entity label: the training examples have no "
                f"entities and none were given. Give training data with entities, or labels "
                f"in [initialize.components.{self.name}] labels."
            )
        n_tags = 1 + 4 * len(wanted)
        width = self._model_width()
        if width is not None and width != n_tags:
            raise BetoConfigError(
                f"Component '{self.name}': the model has nO = {width} outputs, but "
                f"{len(wanted)} labels need {n_tags} (O + B/I/L/U per label). Set "
                f"[components.{self.name}.model] nO = null to infer it."
            )
        for label in wanted:
            self.add_label(label)
        docs = [eg.predicted for eg in islice(get_examples(), 10)]
        if not docs:
            raise BetoConfigError(f"Component '{self.name}': no training example to initialize.")
        ops = self.model.ops
        self.model.initialize(X=docs, Y=[ops.alloc2f(len(doc), n_tags) for doc in docs])

    # ------------------------------------------------------------------ prediction

    def predict(self, docs: Iterable[Doc]) -> TagBatch:
        """Tag probabilities of every token in one model call, decoded to valid BILUO."""
        docs = [docs] if isinstance(docs, Doc) else list(docs)
        tables = self.tables
        lengths = numpy.fromiter((len(doc) for doc in docs), dtype="i8", count=len(docs))
        if not lengths.sum():
            probs = numpy.zeros((0, tables.n_tags), dtype="f4")
            preset = numpy.zeros(0, dtype=bool)
        else:
            ops = self.model.ops
            scores = self.model.predict(docs)
            probs = ops.to_numpy(ops.xp.concatenate(scores)).astype("f4", copy=False)
            iob = numpy.concatenate([doc.to_array(ENT_IOB) for doc in docs])
            preset = (iob == 1) | (iob == 3)  # inside an entity set before this component
        tags = biluo.decode(biluo.log_probs(probs), lengths, tables, preset)
        return TagBatch(lengths=lengths, tags=tags, probs=probs, preset=preset)

    def set_annotations(self, docs: Iterable[Doc], batch: TagBatch) -> None:
        """`doc.ents` (preset entities kept) and, with `entity_scores`, the scores."""
        docs = list(docs)
        tables = self.tables
        starts, ends, labels = biluo.spans(batch.tags, batch.lengths, tables)
        offsets = numpy.cumsum(batch.lengths) - batch.lengths
        label_ids = [self.vocab.strings.add(label) for label in self.labels]
        doc_bounds = numpy.searchsorted(starts, numpy.append(offsets, batch.tags.shape[0]))
        has_preset = numpy.zeros(len(docs), dtype=bool)
        if batch.preset.any():
            doc_of = numpy.repeat(numpy.arange(len(docs)), batch.lengths)
            has_preset[doc_of[batch.preset]] = True
        local_starts = starts - offsets[doc_of_token(offsets, starts)]
        local = (local_starts.tolist(), (local_starts + ends - starts).tolist(), labels.tolist())
        if self.entity_scores:
            raw, (cand_doc, cand_pos, cand_lab, cand_p) = self._entity_scores(
                batch, starts, ends, labels
            )
            cand_bounds = numpy.searchsorted(cand_doc, numpy.arange(len(docs) + 1))
            cand = (cand_pos.tolist(), cand_lab.tolist())
            cal = self.calibration
        for d, doc in enumerate(docs):
            lo, hi = int(doc_bounds[d]), int(doc_bounds[d + 1])
            ents = [
                Span(doc, s, e, label=label_ids[lab])
                for s, e, lab in zip(local[0][lo:hi], local[1][lo:hi], local[2][lo:hi])
            ]
            if has_preset[d]:
                set_ents_keeping_preset(doc, ents)
            else:
                doc.set_ents(ents, default="outside")
            if self.entity_scores:
                c_lo, c_hi = int(cand_bounds[d]), int(cand_bounds[d + 1])
                cands = [
                    Span(doc, i, i + 1, label=label_ids[lab])
                    for i, lab in zip(cand[0][c_lo:c_hi], cand[1][c_lo:c_hi])
                ]
                publish_entity_scores(doc, ents, raw[lo:hi], cands, cand_p[c_lo:c_hi], cal)

    def _entity_scores(
        self, batch: TagBatch, starts: numpy.ndarray, ends: numpy.ndarray, labels: numpy.ndarray
    ) -> Tuple[numpy.ndarray, Tuple[numpy.ndarray, ...]]:
        """Raw score of each entity (geometric mean of its tokens' chosen-tag probabilities,
        from prefix sums of their logs) and the
        candidates: (doc, token, label, probability) of each single-token entity U-X with
        probability >= candidate_threshold that was not chosen, outside preset entities."""
        n = batch.tags.shape[0]
        chosen = batch.probs[numpy.arange(n), batch.tags] if n else numpy.zeros(0, dtype="f4")
        log_sum = biluo.span_log_probs(biluo.log_probs(chosen), starts, ends)
        raw = numpy.exp(log_sum / numpy.maximum(ends - starts, 1))
        u_cols = 1 + 4 * numpy.arange(len(self.labels)) + 3
        p_unit = batch.probs[:, u_cols]
        keep = (p_unit >= self.candidate_threshold) & ~batch.preset[:, None]
        keep &= batch.tags[:, None] != u_cols[None, :]
        pos, lab = numpy.nonzero(keep)
        offsets = numpy.cumsum(batch.lengths) - batch.lengths
        doc = doc_of_token(offsets, pos)
        return raw.astype("f4"), (doc, pos - offsets[doc], lab, p_unit[pos, lab])

    # ------------------------------------------------------------------ training

    def _gold(self, examples: Iterable[Example]) -> numpy.ndarray:
        """The gold tag index of every token of the examples' predicted docs, -1 where missing
        (no annotation, misaligned, or a label this component does not have: logged once)."""
        index = {tag: i for i, tag in enumerate(self.tag_names)}
        gold: List[int] = []
        unknown: Dict[str, int] = {}
        for eg in examples:
            for tag in eg.get_aligned_ner():
                i = index.get(tag, -1) if tag else -1
                if i < 0 and tag and tag != "-":
                    label = tag[2:]
                    unknown[label] = unknown.get(label, 0) + 1
                gold.append(i)
        new = sorted(set(unknown) - self._warned_unknown)
        if new:
            self._warned_unknown.update(new)
            logger.warning(
                "Component '%s': gold entities with labels it does not have (%s) are treated as "
                "missing (%d tokens in this batch); add the labels at initialize to learn them.",
                self.name,
                ", ".join(f"{lab}: {unknown[lab]}" for lab in new),
                sum(unknown.values()),
            )
        return numpy.asarray(gold, dtype="i8")

    def get_loss(
        self, examples: Iterable[Example], scores: List[Floats2d]
    ) -> Tuple[float, List[Floats2d]]:
        """Cross-entropy of the gold BILUO tags (summed over annotated tokens) and its gradient
        with respect to the softmax's input (p - one-hot; 0 for missing tokens)."""
        examples = list(examples)
        validate_examples(examples, "BetoTokenEntityRecognizer.get_loss")
        ops = self.model.ops
        lengths = [int(s.shape[0]) for s in scores]
        probs = ops.xp.concatenate(scores) if scores else ops.alloc2f(0, len(self.tag_names))
        gold = self._gold(examples)
        if gold.shape[0] != probs.shape[0]:
            raise ValueError(
                f"Component '{self.name}': {gold.shape[0]} gold tags for {probs.shape[0]} tokens"
            )
        xp = ops.xp
        rows = numpy.flatnonzero(gold >= 0)
        d_probs = probs.copy()
        d_probs[xp.asarray(gold < 0)] = 0.0
        rows_x, cols_x = xp.asarray(rows), xp.asarray(gold[rows])
        d_probs[rows_x, cols_x] -= 1.0
        picked = ops.to_numpy(probs[rows_x, cols_x]) if rows.size else numpy.zeros(0)
        loss = float(-numpy.log(numpy.maximum(picked, 1e-30)).sum())
        splits = numpy.cumsum(lengths)[:-1].tolist()
        return loss, list(ops.xp.split(d_probs, splits)) if lengths else []

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One gradient step on the examples; the loss goes to `losses[self.name]`."""
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "BetoTokenEntityRecognizer.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses


def doc_of_token(offsets: numpy.ndarray, positions: numpy.ndarray) -> numpy.ndarray:
    """The document of each global token position, given each document's first offset (an
    empty document shares its offset with the next one: the last of them holds the token)."""
    return numpy.searchsorted(offsets, positions, side="right") - 1


def set_ents_keeping_preset(doc: Doc, ents: List[Span]) -> None:
    """Add `ents` to the doc's preset entities (kept as they are) and mark every other token
    that had no entity annotation as outside, as spaCy's `ner` does."""
    doc.set_ents(ents, default="unmodified")
    free = doc.to_array(ENT_IOB) == 0
    if free.any():
        edges = numpy.diff(numpy.concatenate([[0], free.astype("i1"), [0]]))
        runs = zip(numpy.flatnonzero(edges == 1).tolist(), numpy.flatnonzero(edges == -1).tolist())
        doc.set_ents([], outside=[doc[s:e] for s, e in runs], default="unmodified")


@Language.factory(
    "beto_token_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_TOKEN_NER_MODEL,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
        "entity_scores": True,
        "candidate_threshold": 0.1,
    },
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
    },
)
def make_beto_token_ner(
    nlp: Language,
    name: str,
    *,
    model: Model,
    scorer: Optional[Callable],
    entity_scores: bool,
    candidate_threshold: float,
) -> BetoTokenEntityRecognizer:
    """Create an entity recognizer that classifies each token's BILUO tag (labels from the
    training data or [initialize.components.NAME] labels) on the preceding BETO transformer's
    features. Documents without entity annotation are missing, in the loss and in scoring.

    entity_scores: score every entity (geometric mean of its tokens' tag probabilities,
        calibrated once `calibrate` has run): `doc.spans["ents_scored"].attrs["scores"]` and
        `ent._.score`. On by default: the scores come from the same softmax as the entities.
    candidate_threshold: single-token entities the model gave at least this probability but
        did not choose go to `doc.spans["ents_candidates"]` (in (0, 1])."""
    return BetoTokenEntityRecognizer(
        nlp.vocab,
        model,
        name=name,
        entity_scores=entity_scores,
        candidate_threshold=candidate_threshold,
        scorer=scorer,
    )
