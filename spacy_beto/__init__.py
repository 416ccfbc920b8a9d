"""spacy-beto: BETO, the Spanish BERT, as spaCy components.

`import spacy_beto` is cheap: the names below are imported on first use (PEP 562), and nothing
here imports training, pretraining, evaluation or CLI tooling (`spacy_beto.pretrain`,
`spacy_beto.evaluation`, `spacy_beto.cli`, the corpus converters and importers). spaCy finds
the factories, architectures, readers and scorers through entry points, without this module.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, List

from .about import __version__
from .errors import BetoConfigError, CorpusError

if TYPE_CHECKING:
    from .components.ner import make_beto_ner
    from .components.textcat import BetoTextCategorizer, make_beto_textcat
    from .components.token_ner import BetoTokenEntityRecognizer, make_beto_token_ner
    from .components.transformer import BetoTransformer, make_beto_transformer
    from .corpus.interleaved import create_interleaved_corpus
    from .layers.features import create_feature_augmented_tok2vec
    from .layers.transformer_model import create_beto_transformer_model
    from .layers.window_maxout import create_window_maxout
    from .pipeline import add_to
    from .scoring import make_textcat_scorer

# name -> module that defines it, imported when the name is first used
_LAZY: Dict[str, str] = {
    "add_to": ".pipeline",
    "BetoTextCategorizer": ".components.textcat",
    "BetoTokenEntityRecognizer": ".components.token_ner",
    "BetoTransformer": ".components.transformer",
    "create_beto_transformer_model": ".layers.transformer_model",
    "create_feature_augmented_tok2vec": ".layers.features",
    "create_interleaved_corpus": ".corpus.interleaved",
    "create_window_maxout": ".layers.window_maxout",
    "make_beto_ner": ".components.ner",
    "make_beto_token_ner": ".components.token_ner",
    "make_beto_textcat": ".components.textcat",
    "make_beto_transformer": ".components.transformer",
    "make_textcat_scorer": ".scoring",
}

__all__ = [
    "__version__",
    "add_to",
    "BetoConfigError",
    "BetoTextCategorizer",
    "BetoTokenEntityRecognizer",
    "BetoTransformer",
    "CorpusError",
    "create_beto_transformer_model",
    "create_interleaved_corpus",
    "create_feature_augmented_tok2vec",
    "create_window_maxout",
    "make_beto_ner",
    "make_beto_token_ner",
    "make_beto_textcat",
    "make_beto_transformer",
    "make_textcat_scorer",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
