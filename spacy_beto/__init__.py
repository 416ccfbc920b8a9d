"""spacy-beto: BETO, the Spanish BERT, as spaCy components."""

from .about import __version__
from .components.ner import make_beto_ner
from .components.textcat import BetoTextCategorizer, make_beto_textcat
from .components.transformer import BetoTransformer, make_beto_transformer
from .corpus.readers import create_interleaved_corpus
from .errors import BetoConfigError, CorpusError
from .layers.features import create_feature_augmented_tok2vec
from .layers.transformer_model import create_beto_transformer_model
from .pipeline import add_to
from .scoring import make_textcat_scorer

__all__ = [
    "__version__",
    "add_to",
    "BetoConfigError",
    "BetoTextCategorizer",
    "BetoTransformer",
    "CorpusError",
    "create_beto_transformer_model",
    "create_interleaved_corpus",
    "create_feature_augmented_tok2vec",
    "make_beto_ner",
    "make_beto_textcat",
    "make_beto_transformer",
    "make_textcat_scorer",
]
