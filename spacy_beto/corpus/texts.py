"""Stream raw texts from JSONL ("text" field), .spacy (DocBin) or plain text (one per line)."""

from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Union

from ..errors import CorpusError
from .lines import LinePolicy, read_records

TEXT_SUFFIXES = (".jsonl", ".txt", ".spacy")


def expand_paths(paths: Iterable[Union[str, Path]]) -> List[Path]:
    """Files named by `paths`; directories expand to their .jsonl/.txt/.spacy files (sorted)."""
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or directory")
    return files


def iter_texts(
    paths: Iterable[Union[str, Path]], *, policy: Optional[LinePolicy] = None
) -> Iterator[str]:
    """Yield the texts of the non-blank lines of the given files (.spacy: of the docs).

    Bad lines go through `policy` (default: CorpusError naming file:line at the first one).
    """
    policy = policy if policy is not None else LinePolicy()
    for path in expand_paths(paths):
        if path.suffix == ".spacy":
            yield from _docbin_texts(path)
            continue
        for record in policy.good(read_records(path)):
            yield record.text


def _docbin_texts(path: Path) -> Iterator[str]:
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    try:
        docbin = DocBin().from_disk(path)
    except Exception as err:  # zlib/msgpack errors: the file is not a complete DocBin
        raise CorpusError(f"{path}: not a readable .spacy file ({err})") from err
    for doc in docbin.get_docs(Vocab()):
        yield doc.text
