"""Stream raw texts from JSONL ("text" field), .spacy (DocBin) or plain text (one per line)."""

import json
from pathlib import Path
from typing import Iterable, Iterator, List, Union

from ..errors import CorpusError

TEXT_SUFFIXES = (".jsonl", ".txt", ".spacy")


def expand_paths(paths: Iterable[Union[str, Path]]) -> List[Path]:
    """Files named by `paths`; directories expand to their .jsonl/.txt files (sorted)."""
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or directory")
    return files


def iter_texts(paths: Iterable[Union[str, Path]]) -> Iterator[str]:
    """Yield the non-empty texts of the given files; bad lines raise CorpusError with file:line."""
    for path in expand_paths(paths):
        if path.suffix == ".spacy":
            yield from _docbin_texts(path)
            continue
        with path.open(encoding="utf8") as fileh:
            try:
                for line_no, line in enumerate(fileh, 1):
                    if not line.strip():
                        continue
                    if path.suffix == ".jsonl":
                        try:
                            record = json.loads(line)
                        except json.JSONDecodeError as err:
                            raise CorpusError(
                                f"{path}:{line_no}: invalid JSON ({err.msg})"
                            ) from err
                        text = record.get("text") if isinstance(record, dict) else None
                        if not isinstance(text, str):
                            raise CorpusError(f"{path}:{line_no}: no string field 'text'")
                        yield text
                    else:
                        yield line.rstrip("\n")
            except UnicodeDecodeError as err:
                raise CorpusError(f"{path}: not UTF-8 text ({err.reason})") from err


def _docbin_texts(path: Path) -> Iterator[str]:
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    try:
        docbin = DocBin().from_disk(path)
    except Exception as err:  # zlib/msgpack errors: the file is not a complete DocBin
        raise CorpusError(f"{path}: not a readable .spacy file ({err})") from err
    for doc in docbin.get_docs(Vocab()):
        yield doc.text
