"""Windows encoded in length groups at inference give the same outputs as one padded call."""

import numpy
import pytest
import spacy

from spacy_beto.layers.grouping import length_groups

TEXTS = [
    "Hoy",
    "La Universidad de Chile y el Banco Santander firmaron un acuerdo en Santiago. " * 6,
    "María López, de la ONU, llegó a Bogotá.",
    "¡Qué alegría, por fin aprobé el examen!",
    "El presidente Gustavo Petro viajó a Madrid con la delegación de Ecopetrol. " * 2,
    "Real Madrid",
]


@pytest.mark.parametrize("max_items", [8, 64, 4096])
def test_length_groups_cover_each_index_once_within_the_cap(max_items):
    rng = numpy.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(1, 60, size=200)]
    groups = length_groups(lengths, max_items=max_items, min_items=32)
    assert sorted(i for group in groups for i in group) == list(range(200))
    for group in groups:
        padded = max(lengths[i] for i in group) * len(group)
        assert padded <= max_items or len(group) == 1
    # Sorted by length: groups never interleave.
    assert all(
        max(lengths[i] for i in a) <= min(lengths[i] for i in b) for a, b in zip(groups, groups[1:])
    )


def test_length_groups_limit_padding():
    lengths = [10] * 60 + [100] * 60
    groups = length_groups(lengths, max_items=100_000, min_items=100)
    assert len(groups) == 2  # short and long windows are not padded together
    assert {len(g) for g in groups} == {60}


@pytest.fixture
def nlp(saved_pipeline):
    """A copy of the trained pipeline, whose group size the tests change."""
    return spacy.load(saved_pipeline)


@pytest.fixture
def counted_calls(monkeypatch):
    """Encoder calls made through the grouped forward."""
    from spacy_beto.layers import grouping

    calls = []
    original = grouping.pt_forward

    def counting(model, wordpieces, is_train):
        calls.append(len(wordpieces))
        return original(model, wordpieces, is_train)

    monkeypatch.setattr(grouping, "pt_forward", counting)
    return calls


def test_grouped_forward_matches_one_call(nlp, counted_calls):
    from spacy_beto.layers.alignment import forward

    model = nlp.get_pipe("transformer").model
    docs = [nlp.make_doc(text) for text in TEXTS]
    model.layers[0].attrs["group_items"] = 0
    one, _ = forward(model, docs, False)
    assert len(counted_calls) == 1
    model.layers[0].attrs["group_items"] = 64
    grouped, _ = forward(model, docs, False)
    assert len(counted_calls) > 3  # several groups
    assert grouped.wordpieces.input_ids.shape == one.wordpieces.input_ids.shape
    numpy.testing.assert_array_equal(grouped.align.data, one.align.data)
    mask = one.wordpieces.attention_mask.astype(bool)
    a = grouped.model_output.last_hidden_state.numpy()
    b = one.model_output.last_hidden_state.numpy()
    assert a.shape == b.shape
    numpy.testing.assert_allclose(a[mask], b[mask], atol=1e-5)
    numpy.testing.assert_allclose(
        grouped.model_output.pooler_output.numpy(),
        one.model_output.pooler_output.numpy(),
        atol=1e-5,
    )


def test_training_makes_one_call(nlp, counted_calls):
    from spacy_beto.layers.alignment import forward

    model = nlp.get_pipe("transformer").model
    model.layers[0].attrs["group_items"] = 64
    docs = [nlp.make_doc(text) for text in TEXTS]
    output, backprop = forward(model, docs, True)
    assert counted_calls == [output.wordpieces.input_ids.shape[0]]
