"""Importers for public corpora and users' own tables: CoNLL-2002 NER and CSV/TSV text labels."""

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..errors import CorpusError
from .convert import CONLL_LABELS, ConversionReport
from .lines import BadLine, LinePolicy, TextLine, read_records

Sentence = List[Tuple[str, str]]


def _check_iob(tags: Sequence[str], labels: Sequence[str], wheres: Sequence[str]) -> None:
    prev = "O"
    for tag, where in zip(tags, wheres):
        if tag != "O":
            prefix, _, label = tag.partition("-")
            if prefix not in ("B", "I") or label not in labels:
                raise CorpusError(
                    f"{where}: unknown tag {tag!r}; expected O, B-X or I-X with X in "
                    f"{', '.join(labels)}"
                )
            if prefix == "I" and prev[2:] != label:
                raise CorpusError(
                    f"{where}: unknown IOB transition {prev} -> {tag}; an entity must start "
                    f"with B-{label}"
                )
        prev = tag


def _column_count(path: Path) -> Tuple[int, int]:
    """(the usual number of columns of the file's token lines, line number of the first).

    The most common count wins (a tie: the larger one), so an odd *first* line is reported as
    the odd one.
    """
    counts: Counter = Counter()
    first: Dict[int, int] = {}
    for record in read_records(path, fmt="text"):
        if isinstance(record, TextLine):
            fields = record.text.split()
            if fields and fields[0] != "-DOCSTART-":
                counts[len(fields)] += 1
                first.setdefault(len(fields), record.line)
    if not counts:
        raise CorpusError(f"{path}: no token lines; expected 'word POS tag' columns")
    n_cols = max(counts, key=lambda n: (counts[n], n))
    return n_cols, first[n_cols]


def iter_conll_sentences(
    path: Path, labels: Sequence[str], policy: LinePolicy
) -> Iterator[Sentence]:
    """Yield validated sentences of (word, tag); blank lines separate sentences.

    A sentence with a bad line (column count, tag, IOB transition, encoding) goes to `policy`.
    """
    n_cols, first_line = _column_count(path)
    if n_cols < 2:
        raise CorpusError(
            f"{path}:{first_line}: expected 'word POS tag' columns, got {n_cols} column(s)"
        )
    sent: Sentence = []
    wheres: List[str] = []
    error: Optional[str] = None

    def flush() -> Iterator[Sentence]:
        nonlocal sent, wheres, error
        if sent and error is None:
            try:
                _check_iob([t for _, t in sent], labels, wheres)
            except CorpusError as err:
                error = str(err)
        if error is not None:
            policy.reject(error, "invalid sentence")
        elif sent:
            yield sent
        sent, wheres, error = [], [], None

    for record in read_records(path, fmt="text", blank_lines=True):
        if isinstance(record, BadLine):
            error = error or f"{record.where}: {record.reason}"
            continue
        fields = record.text.split()
        if not fields:
            yield from flush()
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) != n_cols:
            error = error or f"{record.where}: expected {n_cols} columns, got {len(fields)}"
            continue
        sent.append((fields[0], fields[-1]))
        wheres.append(record.where)
    yield from flush()


def read_conll2002(
    path: Union[str, Path],
    *,
    n_sents: int = 10,
    labels: Sequence[str] = CONLL_LABELS,
    skip_invalid: bool = False,
) -> Tuple[List[Doc], ConversionReport]:
    """CoNLL-2002 (`word POS IOB-tag`) to Docs of `n_sents` sentences, sentence starts kept."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    report = ConversionReport(path, policy=LinePolicy(skip_invalid=skip_invalid, unit="sentence"))
    vocab = Vocab()
    docs: List[Doc] = []
    group: List[Sentence] = []

    def make_doc() -> Doc:
        words = [w for s in group for w, _ in s]
        tags = [t for s in group for _, t in s]
        starts: List[Union[bool, int, None]] = [i == 0 for s in group for i in range(len(s))]
        return Doc(vocab, words=words, ents=tags, sent_starts=starts)

    for sent in iter_conll_sentences(path, labels, report.policy):
        group.append(sent)
        report.label_counts.update(t[2:] for _, t in sent if t.startswith("B-"))
        if len(group) == n_sents:
            docs.append(make_doc())
            group = []
    if group:
        docs.append(make_doc())
    report.n_docs = len(docs)
    if not docs:
        skipped = f" ({report.policy.summary()})" if report.n_skipped else ""
        raise CorpusError(f"{path}: no valid sentences{skipped}")
    return docs, report


def _check_disjoint(path: Path, label_sets: Mapping[str, Sequence[str]]) -> None:
    """Raise CorpusError if two label columns share a label (all go into one doc.cats)."""
    seen: Dict[str, str] = {}
    for col, label_set in label_sets.items():
        for label in label_set:
            if label in seen:
                raise CorpusError(
                    f"{path}: columns {seen[label]!r} and {col!r} share the label {label!r}; "
                    f"the categories of all label columns go into one doc.cats, so each column "
                    f"needs its own labels. Rename the label in one of the columns."
                )
            seen[label] = col


ID_COL = "id"
MERGED_RECORDS = "merged records"  # LinePolicy kind of a cell that holds several records


def id_shape(value: str) -> Optional["re.Pattern[str]"]:
    """A regex matching values shaped like the record id `value` (e.g. a UUID: runs of 8, 4, 4,
    4 and 12 letters/digits joined by '-'), or None if such ids can't be told apart from words
    (shorter than 12 characters, or no digit)."""
    if len(value) < 12 or not any(c.isdigit() for c in value):
        return None
    parts = [p for p in re.split(r"([^0-9A-Za-z])", value) if p]
    body = "".join(f"[0-9A-Za-z]{{{len(p)}}}" if p.isalnum() else re.escape(p) for p in parts)
    return re.compile(rf"(?<![0-9A-Za-z]){body}(?![0-9A-Za-z])")


def embedded_ids(text: str, shape: Optional["re.Pattern[str]"]) -> List[str]:
    """The record ids inside a text cell: each one is a record that a broken quote merged in."""
    return [] if shape is None else shape.findall(text)


def merged_error(where: str, text_col: str, ids: Sequence[str], text: str) -> str:
    return (
        f"{where}: the {text_col!r} cell holds {len(ids) + 1} records ({len(text):,} "
        f"characters, with the ids {ids[0]!r}"
        f"{f' ... {ids[-1]!r}' if len(ids) > 1 else ''} inline): an unbalanced quote merged "
        f"the following records into this one, and labels after it may be shifted (EmoEvent's "
        f"test split: `python -m spacy_beto restore-labels` splits the cell and restores the "
        f"labels from the full corpus)"
    )


def table_dialect(path: Path) -> Tuple[str, Literal[0, 1, 2, 3]]:
    """(delimiter, quoting) of a table file by its suffix: .tsv/.tab are tab-separated without
    quoting (EmoEvent's splits), other files comma-separated CSV."""
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t", csv.QUOTE_NONE
    return ",", csv.QUOTE_MINIMAL


def _table_rows(
    path: Path,
    text_col: str,
    label_cols: Sequence[str],
    labels: Optional[Sequence[str]],
    policy: LinePolicy,
    id_col: Optional[str] = None,
) -> List[Tuple[str, List[str]]]:
    """(text, label per label column) of each valid row; invalid rows go to `policy`.

    A text cell that holds other records (ids shaped like the `id_col` column's inline: a
    broken quote merged them) is invalid. `id_col` None: "id" if the file has it.
    """
    delimiter, quoting = table_dialect(path)
    rows: List[Tuple[str, List[str]]] = []
    with path.open(encoding="utf8", newline="") as fileh:
        reader = csv.reader(fileh, delimiter=delimiter, quoting=quoting)
        try:
            header = next(reader, None)
            if not header:
                raise CorpusError(f"{path}:1: empty file, expected a header row")
            for col in (text_col, *label_cols, *([id_col] if id_col else [])):
                if col not in header:
                    raise CorpusError(f"{path}:1: no column {col!r}; columns are {header}")
            i_text = header.index(text_col)
            i_labels = [header.index(col) for col in label_cols]
            id_col = id_col or (ID_COL if ID_COL in header else None)
            i_id = header.index(id_col) if id_col else None
            shape = None
            line = reader.line_num
            for row in reader:
                where = f"{path}:{line + 1}"  # the record's first line
                line = reader.line_num
                kind = "invalid row"
                try:
                    if len(row) != len(header):
                        raise CorpusError(
                            f"{where}: expected {len(header)} columns, got {len(row)}"
                        )
                    text, values = row[i_text], [row[i].strip() for i in i_labels]
                    if i_id is not None and shape is None:
                        shape = id_shape(row[i_id].strip())
                    ids = embedded_ids(text, shape)
                    if ids:
                        kind = MERGED_RECORDS
                        raise CorpusError(merged_error(where, text_col, ids, text))
                    _check_row(where, text, values, label_cols, labels)
                except CorpusError as err:
                    policy.reject(str(err), kind)
                    continue
                rows.append((text, values))
        except UnicodeDecodeError as err:
            raise CorpusError(
                f"{path}:{reader.line_num + 1}: invalid UTF-8 ({err.reason}): the file is not "
                f"UTF-8 text; re-encode it, e.g. `iconv -f latin1 -t utf-8`."
            ) from err
    return rows


def _check_row(
    where: str,
    text: str,
    values: Sequence[str],
    label_cols: Sequence[str],
    labels: Optional[Sequence[str]],
) -> None:
    if not text.strip():
        raise CorpusError(f"{where}: empty text")
    for col, value in zip(label_cols, values):
        if not value:
            in_col = f" in column {col!r}" if len(label_cols) > 1 else ""
            raise CorpusError(f"{where}: empty label{in_col}")
    if labels is not None and values[0] not in labels:
        raise CorpusError(
            f"{where}: unknown label {values[0]!r}; known labels: {', '.join(labels)}"
        )


def read_table(
    path: Union[str, Path],
    *,
    text_col: str,
    label_col: Union[str, Sequence[str]],
    labels: Optional[Sequence[str]] = None,
    skip_invalid: bool = False,
    id_col: Optional[str] = None,
) -> Tuple[List[Doc], ConversionReport]:
    """A CSV/TSV (by suffix) with a header to Docs with categories from `label_col`.

    Each label column is its own group of exclusive categories in `doc.cats` (e.g. emotion and
    offensive); the columns' labels must be disjoint. `labels` restricts the first column only.
    A row whose text cell holds several records (record ids of `id_col`, default "id" when the
    file has it, inline) is an error, or with `skip_invalid` skipped and counted.
    """
    path = Path(path)
    label_cols = [label_col] if isinstance(label_col, str) else list(label_col)
    if not label_cols:
        raise CorpusError(f"{path}: no label column given")
    for col in label_cols:
        if label_cols.count(col) > 1:
            raise CorpusError(f"{path}: label column {col!r} is given more than once")
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    report = ConversionReport(path, policy=LinePolicy(skip_invalid=skip_invalid, unit="row"))
    rows = _table_rows(path, text_col, label_cols, labels, report.policy, id_col)
    label_sets: Dict[str, List[str]] = {}
    for i, col in enumerate(label_cols):
        if i == 0 and labels is not None:
            label_sets[col] = list(labels)
        else:
            label_sets[col] = sorted({values[i] for _, values in rows})
    _check_disjoint(path, label_sets)
    from spacy.lang.es import Spanish

    nlp = Spanish()
    docs = []
    report.column_counts = {col: Counter() for col in label_cols}
    for doc, (_, values) in zip(nlp.pipe(t for t, _ in rows), rows):
        cats: Dict[str, float] = {}
        for col, value in zip(label_cols, values):
            cats.update({lab: float(lab == value) for lab in label_sets[col]})
            report.column_counts[col][value] += 1
            report.label_counts[value] += 1
        doc.cats = cats
        docs.append(doc)
    report.n_docs = len(docs)
    if not docs:
        skipped = f" ({report.policy.summary()})" if report.n_skipped else ""
        raise CorpusError(f"{path}: no valid rows{skipped}")
    return docs, report


def write_docbin(docs: Sequence[Doc], output: Union[str, Path]) -> None:
    """Write docs to a .spacy file, creating the parent directory."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(output)
