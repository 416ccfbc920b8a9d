"""The `beto_ner` component: spaCy's transition-based entity recognizer on BETO features."""

from typing import Any, Callable, Iterable, Optional

from spacy.language import Language
from spacy.pipeline import EntityRecognizer
from spacy.training import Example
from thinc.api import Config, Model

from .._compat import TransitionSystem
from .labels import check_labels_in_data
from .listener import LISTENER_CONFIG_STR

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


class BetoEntityRecognizer(EntityRecognizer):
    """spaCy's entity recognizer; labels given in the config must occur in the data."""

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Any] = None,
    ) -> None:
        """Initialize as spaCy does, after checking that every given label has an entity."""
        if labels is not None:
            check_labels_in_data(
                labels,
                get_examples,
                component=self.name,
                seen_in=lambda eg: [ent.label_ for ent in eg.reference.ents],
                what="an entity label",
            )
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
) -> EntityRecognizer:
    """Create an entity recognizer (labels from the training data, e.g. PER/ORG/LOC/MISC) that
    listens to the preceding BETO transformer. Documents without entity annotation count as
    missing, in the loss and in scoring."""
    return BetoEntityRecognizer(
        nlp.vocab,
        model,
        name=name,
        moves=moves,
        update_with_oracle_cut_size=update_with_oracle_cut_size,
        incorrect_spans_key=incorrect_spans_key,
        scorer=scorer,
    )
