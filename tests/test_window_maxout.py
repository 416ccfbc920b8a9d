"""spacy-beto.WindowMaxout.v1: width read from the input, window of neighbours, round trip."""

import numpy
import pytest
from spacy.util import registry
from thinc.api import fix_random_seed


def make(window_size: int = 1):
    return registry.architectures.get("spacy-beto.WindowMaxout.v1")(
        window_size=window_size, maxout_pieces=3
    )


def inputs(width: int, lengths=(5, 9)):
    rng = numpy.random.default_rng(0)
    return [rng.normal(size=(n, width)).astype("float32") for n in lengths]


@pytest.mark.parametrize("width", [8, 13])
def test_width_is_read_from_the_input(width):
    fix_random_seed(0)
    model = make()
    X = inputs(width)
    model.initialize(X=X)
    assert model.get_dim("nO") == width
    Y = model.predict(X)
    assert [y.shape for y in Y] == [x.shape for x in X]
    assert all(numpy.isfinite(y).all() for y in Y)


@pytest.mark.parametrize("window_size", [1, 2])
def test_a_token_sees_its_window_and_no_further(window_size):
    fix_random_seed(0)
    model = make(window_size)
    X = inputs(6, lengths=(9,))
    model.initialize(X=X)
    before = model.predict(X)[0]
    changed = X[0].copy()
    changed[4] += 1.0
    after = model.predict([changed])[0]
    moved = numpy.abs(after - before).max(axis=1) > 1e-6
    assert moved.tolist() == [abs(i - 4) <= window_size for i in range(9)]


def test_round_trip_without_initialize():
    fix_random_seed(0)
    model = make()
    X = inputs(7)
    model.initialize(X=X)
    expected = model.predict(X)
    loaded = make().from_bytes(model.to_bytes())
    for got, want in zip(loaded.predict(X), expected):
        numpy.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_backprop_reaches_the_input():
    fix_random_seed(0)
    model = make()
    X = inputs(5)
    model.initialize(X=X)
    Y, backprop = model.begin_update(X)
    dX = backprop([numpy.ones_like(y) for y in Y])
    assert [d.shape for d in dX] == [x.shape for x in X]
    assert all(numpy.abs(d).sum() > 0 for d in dX)


@pytest.mark.parametrize("X", [None, []])
def test_initialize_without_sample_input_says_what_to_do(X):
    with pytest.raises(ValueError, match="reads its width from sample input"):
        make().initialize(X=X)
