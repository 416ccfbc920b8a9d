"""beto_ner treats documents without entity annotation as missing: no loss, not scored."""

import pytest
import spacy
from spacy.scorer import get_ner_prf
from spacy.training import Example

from spacy_beto.corpus.convert import CONLL_LABELS, EMOTION_LABELS, ner_doc, textcat_doc

from .conftest import build_pipeline


def test_emotion_documents_give_no_ner_loss(
    trained_nlp, tiny_model_dir, ner_records, emotion_records
):
    nlp = build_pipeline(tiny_model_dir)
    nlp.from_bytes(trained_nlp.to_bytes())  # a copy: the shared fixture is not updated
    emo = [textcat_doc(nlp, r, "e", EMOTION_LABELS) for r in emotion_records[:8]]
    assert not any(doc.has_annotation("ENT_IOB") for doc in emo)
    losses = {}
    nlp.update([Example(nlp.make_doc(d.text), d) for d in emo], sgd=False, losses=losses)
    assert losses["ner"] == 0.0 and losses["textcat"] > 0.0
    annotated = [ner_doc(nlp, r, "n", CONLL_LABELS) for r in ner_records[:8]]
    losses = {}
    nlp.update([Example(nlp.make_doc(d.text), d) for d in annotated], sgd=False, losses=losses)
    assert losses["ner"] > 0.0 and losses["textcat"] == 0.0


def test_emotion_documents_are_not_scored_for_entities(trained_nlp):
    nlp = spacy.blank("es")
    gold = nlp.make_doc("Ana vive en Lima.")  # an emotion document: no entity annotation
    pred = nlp.make_doc(gold.text)
    pred.set_ents([pred.char_span(0, 3, label="PER")])
    scores = get_ner_prf([Example(pred, gold)])
    assert scores["ents_p"] is None or scores["ents_p"] == pytest.approx(0.0)
    annotated = nlp.make_doc(gold.text)
    annotated.set_ents([], default="outside")  # annotated, no entities: the PER is a false positive
    scores = get_ner_prf([Example(pred, annotated)])
    assert scores["ents_p"] == 0.0
    # The false positive is only counted against the annotated reference.
    combined = get_ner_prf([Example(pred, gold), Example(pred, annotated)])
    assert combined["ents_per_type"]["PER"]["p"] == 0.0
