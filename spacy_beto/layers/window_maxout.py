"""A residual maxout layer over each token's vector and its neighbours', as wide as its input."""

from typing import Callable, List, Optional, Tuple

from spacy.util import registry
from thinc.api import LayerNorm, Maxout, Model, chain, expand_window, residual, with_array
from thinc.types import Floats2d


@registry.architectures("spacy-beto.WindowMaxout.v1")
def create_window_maxout(
    window_size: int = 1, maxout_pieces: int = 3
) -> Model[List[Floats2d], List[Floats2d]]:
    """spaCy's `MaxoutWindowEncoder.v2` with depth 1 — each token's vector concatenated with its
    `window_size` neighbours' on each side, a layer-normalised maxout layer, a residual
    connection — whose width is its input's, read at initialization: one config fits encoders
    of any hidden size (with the mini's lexical features the width is hidden + 96).

    It gives a token-classification head (`beto_token_ner` over `spacy.Tagger.v2`) the
    nonlinear, windowed hidden layer that spaCy's transition-based parser has of its own; on
    the random-init mini encoder the linear head alone trails `beto_ner` by ~2 entity F1 and with
    this layer matches it (benchmarks/entity_heads.md).
    """
    # Maxout(normalize=True) is this chain, but hides the maxout whose nO is set at init.
    maxout = Maxout(nP=maxout_pieces, dropout=None)
    block = residual(chain(expand_window(window_size=window_size), maxout, LayerNorm()))
    return Model(
        "window-maxout",
        _forward,
        init=_init,
        layers=[with_array(block, pad=window_size)],
        refs={"maxout": maxout},
        dims={"nO": None},
        attrs={"receptive_field": window_size},
    )


def _forward(
    model: Model, X: List[Floats2d], is_train: bool
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], List[Floats2d]]]:
    return model.layers[0](X, is_train)


def _init(
    model: Model, X: Optional[List[Floats2d]] = None, Y: Optional[List[Floats2d]] = None
) -> None:
    if not model.has_dim("nO"):
        if not X:
            raise ValueError(
                "spacy-beto.WindowMaxout.v1 reads its width from sample input at "
                "initialization: initialize it with X (in a pipeline, nlp.initialize with "
                "training examples)."
            )
        width = int(X[0].shape[1])
        model.get_ref("maxout").set_dim("nO", width)
        model.set_dim("nO", width)
    model.layers[0].initialize(X=X)
