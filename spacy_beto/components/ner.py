"""The `beto_ner` component: spaCy's transition-based entity recognizer on BETO features, with
a probability for every entity.

Entities are decoded greedily, exactly as spaCy's `ner` does: scores never change them. With
`entity_scores = true` (off by default; `python -m spacy_beto calibrate` turns it on in the
pipeline it saves) each entity also gets a probability:

* `score_method = "greedy"` (default): the greedy parse is replayed through the transition
  model; an entity's score is the product of the probabilities of its actions, each a softmax
  over the actions valid at that step (AUROC 0.82 on CoNLL-2002 dev, benchmarks/calibration.md);
* `score_method = "beam"`: its marginal probability in spaCy's beam search over the same model
  (width `score_beam_width`): the summed probability of the beam parses that contain it;

mapped through the calibration fitted by `python -m spacy_beto calibrate` when there is one.
Read the scores the spaCy way:

* `doc.spans["ents_scored"]`: the entities of `doc.ents`, with `attrs["scores"]` (calibrated,
  a float32 array aligned with the spans, as spaCy's `spancat` does) and `attrs["raw_scores"]`
  (before calibration);
* `ent._.score` for any span of `doc.ents` (None if the doc was not scored);
* `doc.spans["ents_candidates"]`: other spans scored at least `candidate_threshold` (raw; the
  greedy method proposes single-token alternatives only), with their `attrs["scores"]`, for
  review tools.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import EntityRecognizer
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model

from .._compat import TransitionSystem, beam_batch
from ..errors import BetoConfigError
from .entity_scores import (
    CANDIDATES_KEY,
    SCORED_KEY,
    EntityScoresMixin,
    check_candidate_threshold,
    entity_score,
    publish_entity_scores,
)
from .labels import check_entity_labels_in_data
from .listener import LISTENER_CONFIG_STR

__all__ = [
    "CANDIDATES_KEY",
    "SCORED_KEY",
    "BetoEntityRecognizer",
    "entity_score",
    "make_beto_ner",
]

DEFAULT_NER_CONFIG_STR = (
    """
[model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = false
nO = null
"""
    + LISTENER_CONFIG_STR
)
DEFAULT_NER_MODEL = Config().from_str(DEFAULT_NER_CONFIG_STR)["model"]


def biluo_tags(doc: Doc) -> List[str]:
    """The BILUO action name of each token for the doc's entities (O outside)."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        if len(ent) == 1:
            tags[ent.start] = f"U-{ent.label_}"
            continue
        tags[ent.start] = f"B-{ent.label_}"
        for i in range(ent.start + 1, ent.end - 1):
            tags[i] = f"I-{ent.label_}"
        tags[ent.end - 1] = f"L-{ent.label_}"
    return tags


SCORE_METHODS = ("greedy", "beam")
EntScores = Dict[Tuple[int, int, str], float]


class ScoredStates(list):
    """The parse states of a batch (a list, as spaCy's greedy `predict` returns), carrying the
    beam's entity marginals of each doc in `entity_scores`."""

    entity_scores: List[EntScores]


class BetoEntityRecognizer(EntityScoresMixin, EntityRecognizer):
    """spaCy's entity recognizer with entity scores (see the module docstring); labels given in
    the config must occur in the data.

    `entity_scores`, `score_beam_width`, `candidate_threshold` are the factory settings;
    `cfg["calibration"]` is the Platt map fitted by `calibrate` (None: raw beam marginals)."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "ner",
        moves: Optional[TransitionSystem] = None,
        *,
        entity_scores: bool = False,
        score_method: str = "greedy",
        score_beam_width: int = 8,
        candidate_threshold: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if score_method not in SCORE_METHODS:
            raise BetoConfigError(
                f"Component '{name}': score_method = {score_method!r} is not one of "
                f"{', '.join(SCORE_METHODS)}."
            )
        if score_beam_width < 2:
            raise BetoConfigError(
                f"Component '{name}': score_beam_width = {score_beam_width}; give at least 2 "
                f"(a beam of 1 is the greedy parse and scores every entity 1.0), or set "
                f"entity_scores = false."
            )
        check_candidate_threshold(candidate_threshold, component=name)
        super().__init__(vocab, model, name, moves, **kwargs)
        self.entity_scores = entity_scores
        self.score_method = score_method
        self.score_beam_width = score_beam_width
        self.candidate_threshold = candidate_threshold
        self.cfg.setdefault("calibration", None)

    def predict(self, docs: Iterable[Doc]) -> Any:
        """Greedy parse states (spaCy's decoder); with `entity_scores`, a `ScoredStates` list that
        also holds each doc's beam marginals."""
        docs = [docs] if isinstance(docs, Doc) else list(docs)
        states = super().predict(docs)
        if (
            not self.entity_scores
            or self.score_method != "beam"
            or not any(len(doc) for doc in docs)
        ):
            return states
        beams = self._normalized_beam_parse(docs)
        scored = ScoredStates(states)
        scored.entity_scores = [dict(d) for d in self.scored_ents(beams)]
        return scored

    def _normalized_beam_parse(self, docs: List[Doc]) -> List[Any]:
        """spaCy's `Parser.beam_parse`, with each step's action scores log-softmax normalised
        before the beam adds them up: a parse's score is then the sum of its actions' log
        probabilities, comparable across states (spaCy sums the raw scores, whose offset
        differs from state to state, so its beam probabilities are close to 0 or 1)."""
        batch = beam_batch(self.moves, self.moves.init_batch(docs), self.score_beam_width)
        model = self.model.predict(docs)
        ops = self.model.ops
        while not batch.is_done:
            states = batch.get_unfinished_states()
            if not states:
                break
            scores = model.predict(states)
            scores = (
                scores
                - ops.xp.log(
                    ops.xp.exp(scores - scores.max(1, keepdims=True)).sum(1, keepdims=True)
                )
                - scores.max(1, keepdims=True)
            )
            batch.advance(ops.as_contig(scores.astype("f")))
        model.clear_memory()
        return list(batch)

    def _greedy_path_scores(self, docs: List[Doc]) -> List[EntScores]:
        """Replay each doc's greedy entities (its BILUO tags) through the transition model and
        score each entity by the product of its actions' probabilities, each a softmax over
        the actions valid at that step (inside an entity of label X: I-X, L-X; outside: O,
        U-*, and B-* unless at the last token). Single-token alternatives the model gave at
        least `candidate_threshold` (U-X where it chose otherwise) are returned too."""
        out: List[EntScores] = [{} for _ in docs]
        todo = [i for i, doc in enumerate(docs) if len(doc)]
        if not todo:
            return out
        names = [self.moves.get_class_name(i) for i in range(self.moves.n_moves)]
        index = {name: i for i, name in enumerate(names)}
        begin = numpy.asarray([n.startswith("B-") for n in names])
        outside = numpy.asarray(
            [n == "O" or (n.startswith(("B-", "U-")) and len(n) > 2) for n in names]
        )
        inside: Dict[str, numpy.ndarray] = {}
        for name in names:
            if name.startswith("B-"):
                label = name[2:]
                mask = numpy.zeros(len(names), dtype=bool)
                mask[[index.get(f"I-{label}", 0), index.get(f"L-{label}", 0)]] = True
                inside[label] = mask
        sub = [docs[i] for i in todo]
        tags = [biluo_tags(doc) for doc in sub]
        step_model = self.model.predict(sub)
        states = self.moves.init_batch(sub)
        logp = [numpy.zeros(len(doc)) for doc in sub]
        label_at = [""] * len(sub)  # label of the open entity, "" outside
        active = [(state, j) for j, state in enumerate(states) if not state.is_final()]
        while active:
            scores = self.model.ops.to_numpy(step_model.predict([st for st, _ in active]))
            for row, (state, j) in enumerate(active):
                i = state.B(0)
                tag = tags[j][i]
                if label_at[j]:
                    mask = inside[label_at[j]].copy()
                else:
                    mask = outside & ~begin if i == len(sub[j]) - 1 else outside.copy()
                taken = index[tag]
                mask[taken] = True
                valid = scores[row][mask]
                top = valid.max()
                log_z = top + numpy.log(numpy.exp(valid - top).sum())
                logp[j][i] = scores[row][taken] - log_z
                if not label_at[j]:
                    for k in numpy.flatnonzero(mask):
                        alt = names[k]
                        if k != taken and alt.startswith("U-"):
                            p = float(numpy.exp(scores[row][k] - log_z))
                            if p >= self.candidate_threshold:
                                out[todo[j]][(i, i + 1, alt[2:])] = p
                self.moves.apply_transition(state, tag)
                label_at[j] = tag[2:] if tag[:2] in ("B-", "I-") else ""
            active = [(st, j) for st, j in active if not st.is_final()]
        step_model.clear_memory()
        for j, doc in enumerate(sub):
            for ent in doc.ents:
                p = float(numpy.exp(logp[j][ent.start : ent.end].sum()))
                out[todo[j]][(ent.start, ent.end, ent.label_)] = p
        return out

    def set_annotations(self, docs: Iterable[Doc], states_or_beams: Any) -> None:
        """spaCy's annotations, then `doc.spans["ents_scored"]` and `["ents_candidates"]`."""
        docs = list(docs)
        super().set_annotations(docs, states_or_beams)
        per_doc = getattr(states_or_beams, "entity_scores", None)
        if per_doc is None and self.entity_scores and self.score_method == "greedy":
            per_doc = self._greedy_path_scores(docs)
        if per_doc is None:
            return
        cal = self.calibration
        for doc, marginals in zip(docs, per_doc):
            ents = list(doc.ents)
            raw = [marginals.get((e.start, e.end, e.label_), 0.0) for e in ents]
            chosen = {(e.start, e.end, e.label_) for e in ents}
            others = sorted(
                key
                for key, p in marginals.items()
                if p >= self.candidate_threshold and key not in chosen
            )
            spans = [Span(doc, start, end, label=label) for start, end, label in others]
            cand_raw = [marginals[key] for key in others]
            publish_entity_scores(doc, ents, raw, spans, cand_raw, cal)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Any] = None,
    ) -> None:
        """Initialize as spaCy does, after checking that every given label has an entity."""
        if labels is not None:
            check_entity_labels_in_data(labels, get_examples, component=self.name)
        super().initialize(get_examples, nlp=nlp, labels=labels)


@Language.factory(
    "beto_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_NER_MODEL,
        "moves": None,
        "update_with_oracle_cut_size": 100,
        "incorrect_spans_key": None,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
        "entity_scores": False,
        "score_method": "greedy",
        "score_beam_width": 8,
        "candidate_threshold": 0.1,
    },
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
    },
)
def make_beto_ner(
    nlp: Language,
    name: str,
    *,
    model: Model,
    moves: Optional[TransitionSystem],
    update_with_oracle_cut_size: int,
    incorrect_spans_key: Optional[str],
    scorer: Optional[Callable],
    entity_scores: bool,
    score_method: str,
    score_beam_width: int,
    candidate_threshold: float,
) -> EntityRecognizer:
    """Create an entity recognizer (labels from the training data, e.g. PER/ORG/LOC/MISC) that
    listens to the preceding BETO transformer. Documents without entity annotation count as
    missing, in the loss and in scoring.

    entity_scores: score every entity (beam marginals, calibrated once `calibrate` has run):
        `doc.spans["ents_scored"].attrs["scores"]` and `ent._.score`. Entities are unchanged.
        Off by default, so the default stays as fast as before: scoring runs the transition
        model a second time (benchmarks/calibration.md: the beam cost 23-34 % of CPU words/s
        with the mini encoder; the greedy method's cost was below the noise of a loaded
        machine). `calibrate` turns it on in the pipeline it saves.
    score_method: "greedy" (default): the product of the entity's action probabilities along
        the greedy parse; "beam": the entity's marginal in a beam of `score_beam_width` (>= 2).
        Measured side by side in benchmarks/calibration.md.
    candidate_threshold: spans the model nearly chose, with a raw marginal at least this, go to
        `doc.spans["ents_candidates"]`."""
    return BetoEntityRecognizer(
        nlp.vocab,
        model,
        name=name,
        moves=moves,
        update_with_oracle_cut_size=update_with_oracle_cut_size,
        incorrect_spans_key=incorrect_spans_key,
        scorer=scorer,
        entity_scores=entity_scores,
        score_method=score_method,
        score_beam_width=score_beam_width,
        candidate_threshold=candidate_threshold,
    )
