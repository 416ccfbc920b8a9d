"""`spacy-beto.Corpus.v1`: spaCy's .spacy corpus reader with errors that name the bad file."""

from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from spacy import util
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus, Example
from spacy.vocab import Vocab

from ..errors import CorpusError

FILE_TYPE = ".spacy"


class BetoCorpus(Corpus):
    """spaCy's Corpus; a missing, truncated or corrupt .spacy file raises CorpusError naming it."""

    def read_docbin(self, vocab: Vocab, locs: Iterable[Union[str, Path]]) -> Iterator[Doc]:
        """Yield the non-empty docs of the .spacy files in `locs`, up to `limit` in all."""
        n_docs = 0
        for loc in map(Path, locs):
            if not loc.name.endswith(FILE_TYPE):
                continue
            try:
                docs = list(DocBin().from_disk(loc).get_docs(vocab))
            except Exception as err:
                raise CorpusError(
                    f"{loc}: not a readable {FILE_TYPE} file ({type(err).__name__}: {err}). It is "
                    f"truncated or corrupt, e.g. from an interrupted conversion or copy: create it "
                    f"again (e.g. `python -m spacy_beto convert-corpus` or `python -m spacy_beto "
                    f"import`)."
                ) from err
            for doc in docs:
                if len(doc):
                    yield doc
                    n_docs += 1
                    if self.limit >= 1 and n_docs >= self.limit:
                        return


@util.registry.readers("spacy-beto.Corpus.v1")
def create_corpus_reader(
    path: Optional[Path],
    gold_preproc: bool,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[..., Iterable[Example]]:
    """Read a .spacy file or a directory of them, as spacy.Corpus.v1 does, with clear errors."""
    if path is None:
        raise CorpusError(
            "No corpus path: set the [paths] of the training and dev corpora "
            "(e.g. --paths.dev PATH)."
        )
    if not Path(path).exists():
        raise CorpusError(
            f"{path}: no such .spacy file or directory. Convert the corpus first "
            f"(`python -m spacy_beto convert-corpus` or `import`) or fix [paths] train / dev."
        )
    return BetoCorpus(
        path, gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter
    )
