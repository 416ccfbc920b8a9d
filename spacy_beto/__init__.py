"""spacy-beto: BETO, the Spanish BERT, as spaCy components.

The public names are imported on first use (PEP 562), so that `python -m spacy_beto --help`
and the CLI's argument errors do not pay for importing spaCy, spacy-transformers and torch.
spaCy finds the factories, architectures, readers and scorers through entry points, which
import their modules directly.
"""

import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, List

from .about import __version__
from .errors import BetoConfigError, CorpusError

# public name -> module that defines it
_LAZY: Dict[str, str] = {
    "add_to": ".pipeline",
    "BetoTextCategorizer": ".components.textcat",
    "BetoTransformer": ".components.transformer",
    "create_beto_transformer_model": ".layers.transformer_model",
    "create_interleaved_corpus": ".corpus.readers",
    "create_feature_augmented_tok2vec": ".layers.features",
    "make_beto_ner": ".components.ner",
    "make_beto_textcat": ".components.textcat",
    "make_beto_transformer": ".components.transformer",
    "make_textcat_scorer": ".scoring",
}

if TYPE_CHECKING:  # pragma: no cover
    from .components.ner import make_beto_ner
    from .components.textcat import BetoTextCategorizer, make_beto_textcat
    from .components.transformer import BetoTransformer, make_beto_transformer
    from .corpus.readers import create_interleaved_corpus
    from .layers.features import create_feature_augmented_tok2vec
    from .layers.transformer_model import create_beto_transformer_model
    from .pipeline import add_to
    from .scoring import make_textcat_scorer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spacy_beto' has no attribute '{name}'")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))


if "spacy" in sys.modules:
    # spaCy is running and imports us through one of our entry points: register every
    # factory, architecture, reader and scorer now, as an eager import did, so that spaCy's
    # registries list all of them whichever entry point it loaded first.
    for _module in sorted(set(_LAZY.values())):
        import_module(_module, __name__)


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
