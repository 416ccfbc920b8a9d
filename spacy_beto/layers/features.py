"""Token vectors from the transformer listener concatenated with lexical features."""

from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d


@registry.architectures("spacy-beto.FeatureAugmentedTok2Vec.v1")
def create_feature_augmented_tok2vec(
    tok2vec: Model[List[Doc], List[Floats2d]],
    features: Model[List[Doc], List[Floats2d]],
) -> Model[List[Doc], List[Floats2d]]:
    """Concatenate a (listener) tok2vec with another, e.g. hash-embedded NORM/PREFIX/SUFFIX/SHAPE.

    Useful when the encoder knows little Spanish (the random-init mini model): the head still
    sees capitalisation and affixes. Real BETO does not need it.
    """
    return Model(
        "feature-augmented-tok2vec",
        _forward,
        init=_init,
        layers=[tok2vec, features],
        dims={"nO": None},
    )


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[List[Floats2d]] = None) -> None:
    for layer in model.layers:
        layer.initialize(X=X)
    if all(layer.has_dim("nO") for layer in model.layers):
        model.set_dim("nO", sum(layer.get_dim("nO") for layer in model.layers))


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    outputs, backprops = zip(*(layer(docs, is_train) for layer in model.layers))
    if not docs:
        return [], lambda d_vectors: []
    widths = [out[0].shape[1] for out in outputs]
    vectors = [model.ops.xp.hstack(rows) for rows in zip(*outputs)]

    def backprop(d_vectors: List[Floats2d]) -> List[Doc]:
        start = 0
        for width, bp in zip(widths, backprops):
            bp([d[:, start : start + width] for d in d_vectors])
            start += width
        return []

    return vectors, backprop
