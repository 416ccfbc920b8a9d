"""Restore the labels of a published split from the full corpus, by normalised text.

EmoEvent's `splits/es/test.tsv` is corrupted: at one line an unbalanced quote merged ~30
records into one tweet cell (their ids, events and offensive labels inline, separated by
spaces), and from there on the `emotion` column is shifted against the tweets. The full corpus
`emoevent_es.csv` (same repository) has every tweet with its label, with `#tags` -> `HASHTAG`,
links -> `URL` and mentions -> `USER`. `restore_labels` splits merged cells back into their
records, matches every record to the full corpus by normalised text (both sides normalised the
same way) and writes the split with the corpus's labels. Records that match no corpus tweet, or
tweets with different labels, are left out, counted and listed: never silently.
"""

import csv
import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, TextIO, Tuple, Union

from ..errors import CorpusError
from .importers import ID_COL, embedded_ids, id_shape, table_dialect

URL_RE = re.compile(r"https?://\S+|www\.\S+")
MENTION_RE = re.compile(r"@\w+")
HASHTAG_RE = re.compile(r"#\w+")
WORD_RE = re.compile(r"\w+")
MAX_LISTED = 20


def normalise(text: str) -> str:
    """The matching key of a tweet: HTML entities decoded, NFKC, links -> URL, mentions -> USER,
    hashtags -> HASHTAG (as in emoevent_es.csv), casefolded words joined by one space (spacing,
    punctuation and emoji are dropped: the two files differ in them)."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = URL_RE.sub(" URL ", text)
    text = MENTION_RE.sub(" USER ", text)
    text = HASHTAG_RE.sub(" HASHTAG ", text)
    return " ".join(WORD_RE.findall(text.casefold()))


@dataclass
class RestoreReport:
    """What `restore_labels` read, matched, changed and left out."""

    path: Path
    reference: Path
    n_rows: int = 0  # records of the split, merged cells split back into their records
    n_merged_cells: int = 0
    n_split_records: int = 0  # records recovered from merged cells (beyond the cell's own)
    n_matched: int = 0
    n_changed: int = 0  # matched records whose published label differs from the corpus's
    n_reference: int = 0
    unmatched: List[str] = field(default_factory=list)  # "FILE:LINE: text" (first MAX_LISTED)
    ambiguous: List[str] = field(default_factory=list)
    n_unmatched: int = 0
    n_ambiguous: int = 0
    label_counts: Counter = field(default_factory=Counter)

    @property
    def n_left_out(self) -> int:
        return self.n_unmatched + self.n_ambiguous

    def to_dict(self) -> Dict[str, object]:
        return {
            "path": str(self.path),
            "reference": str(self.reference),
            "rows": self.n_rows,
            "merged_cells": self.n_merged_cells,
            "records_split_from_merged_cells": self.n_split_records,
            "matched": self.n_matched,
            "labels_changed": self.n_changed,
            "left_out": self.n_left_out,
            "unmatched": self.n_unmatched,
            "ambiguous": self.n_ambiguous,
            "reference_rows": self.n_reference,
            "label_counts": dict(sorted(self.label_counts.items())),
            "unmatched_listed": self.unmatched,
            "ambiguous_listed": self.ambiguous,
        }


def _open_table(path: Path) -> Tuple[Any, TextIO]:
    """A reader of `path`: .tsv/.tab as the importer reads them (tabs, no quoting); other files
    (emoevent_es.csv is tab-separated with CSV quoting) with the delimiter of their header."""
    fileh = path.open(encoding="utf8", newline="")
    if path.suffix.lower() in (".tsv", ".tab"):
        delimiter, quoting = table_dialect(path)
    else:
        first = fileh.readline()
        fileh.seek(0)
        delimiter, quoting = ("\t" if "\t" in first else ","), csv.QUOTE_MINIMAL
    return csv.reader(fileh, delimiter=delimiter, quoting=quoting), fileh


def read_table(
    path: Path, *, required: Sequence[str]
) -> Tuple[List[str], List[Tuple[int, List[str]]]]:
    """The header and the (line number, row) of every row of a table file. The header must have
    the `required` columns and every row as many cells as it (else CorpusError at file:line)."""
    reader, fileh = _open_table(path)
    rows: List[Tuple[int, List[str]]] = []
    with fileh:
        header: List[str] = next(reader, [])
        for col in required:
            if col not in header:
                raise CorpusError(f"{path}:1: no column {col!r}; columns are {header}")
        for row in reader:
            if len(row) != len(header):
                raise CorpusError(
                    f"{path}:{reader.line_num}: expected {len(header)} columns, got {len(row)}"
                )
            rows.append((reader.line_num, row))
    return header, rows


def read_reference(path: Path, *, text_col: str, label_col: str) -> Tuple[Dict[str, Set[str]], int]:
    """(normalised text -> the labels it has in the full corpus, number of rows)."""
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    header, rows = read_table(path, required=(text_col, label_col))
    i_text, i_label = header.index(text_col), header.index(label_col)
    index: Dict[str, Set[str]] = {}
    for _, row in rows:
        key = normalise(row[i_text])
        if key and row[i_label].strip():
            index.setdefault(key, set()).add(row[i_label].strip())
    n_rows = len(rows)
    if not index:
        raise CorpusError(f"{path}: no labelled rows")
    return index, n_rows


def split_merged(
    row: Sequence[str],
    header: Sequence[str],
    *,
    i_text: int,
    i_id: int,
    shape: "re.Pattern[str]",
    trailing: Set[str],
) -> List[List[str]]:
    """The records of a row whose text cell holds merged records, in file order.

    In the cell, each merged record reads "ID COLS... TEXT TRAILING..." (the columns between the
    id and the text as single words, then the values of the columns after the text, separated
    by spaces). The row's own id and leading columns belong to the first record, its trailing
    cells to the last. `trailing`: the values seen in the columns after the text, stripped from
    the end of each inner record's text and put in those columns, in order.
    """
    text = row[i_text]
    matches = list(shape.finditer(text))
    n_between = i_text - i_id - 1 if i_text > i_id else 0
    n_after = len(header) - i_text - 1
    bounds = [0] + [m.start() for m in matches] + [len(text)]
    records = []
    for k in range(len(matches) + 1):
        segment = text[bounds[k] : bounds[k + 1]].split()
        record = list(row) if k == 0 else [""] * len(header)
        if k > 0:
            record[i_id] = segment.pop(0)
            for j in range(i_id + 1, i_id + 1 + n_between):
                record[j] = segment.pop(0) if segment else ""
        if k < len(matches):  # trailing values are inline; the last record keeps the row's
            values: List[str] = []
            while segment and segment[-1] in trailing and len(values) < n_after:
                values.insert(0, segment.pop())
            after = values + [""] * (n_after - len(values))
            record[i_text + 1 :] = after
        else:
            record[i_text + 1 :] = row[i_text + 1 :]
        record[i_text] = " ".join(segment)
        records.append(record)
    return records


def restore_labels(
    path: Union[str, Path],
    reference: Union[str, Path],
    output: Union[str, Path],
    *,
    text_col: str = "tweet",
    label_col: str = "emotion",
    ref_text_col: Optional[str] = None,
    ref_label_col: Optional[str] = None,
    min_matched: float = 0.9,
) -> RestoreReport:
    """Write `output` (a TSV with the split's columns) with `label_col` taken from `reference`.

    Merged cells are split into their records first; each record is matched to the reference by
    `normalise(text)`. Unmatched and ambiguous records (a text with several labels in the
    reference) are left out and reported. Raises CorpusError if fewer than `min_matched` of the
    records match (the wrong reference file, or a different text column).
    """
    path, reference, output = Path(path), Path(reference), Path(output)
    if output.suffix.lower() not in (".tsv", ".tab"):
        raise CorpusError(f"{output}: the output is a TSV file; name it *.tsv")
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    index, n_ref = read_reference(
        reference, text_col=ref_text_col or text_col, label_col=ref_label_col or label_col
    )
    report = RestoreReport(path, reference, n_reference=n_ref)
    records: List[Tuple[str, List[str]]] = []  # (where, record)
    header, numbered = read_table(path, required=(text_col, label_col))
    i_text, i_label = header.index(text_col), header.index(label_col)
    i_id = header.index(ID_COL) if ID_COL in header else None
    rows = [(f"{path}:{line_no}", row) for line_no, row in numbered]
    shape = id_shape(rows[0][1][i_id].strip()) if rows and i_id is not None else None
    trailing = {row[i].strip() for _, row in rows for i in range(i_text + 1, len(header))}
    for where, row in rows:
        if shape is not None and i_id is not None and embedded_ids(row[i_text], shape):
            parts = split_merged(
                row, header, i_text=i_text, i_id=i_id, shape=shape, trailing=trailing
            )
            report.n_merged_cells += 1
            report.n_split_records += len(parts) - 1
            records += [(f"{where} (merged record {k + 1})", p) for k, p in enumerate(parts)]
        else:
            records.append((where, list(row)))
    kept = []
    for where, record in records:
        labels = index.get(normalise(record[i_text]), set())
        if len(labels) == 1:
            label = next(iter(labels))
            report.n_changed += bool(record[i_label].strip()) and record[i_label].strip() != label
            record[i_label] = label
            report.label_counts[label] += 1
            kept.append(record)
            continue
        entry = f"{where}: {record[i_text][:60]!r}"
        if labels:
            report.n_ambiguous += 1
            if len(report.ambiguous) < MAX_LISTED:
                report.ambiguous.append(f"{entry} has labels {', '.join(sorted(labels))}")
        else:
            report.n_unmatched += 1
            if len(report.unmatched) < MAX_LISTED:
                report.unmatched.append(entry)
    report.n_rows = len(records)
    report.n_matched = len(kept)
    if not records or report.n_matched < min_matched * report.n_rows:
        raise CorpusError(
            f"{path}: only {report.n_matched} of {report.n_rows} records match a tweet of "
            f"{reference} (normalised {text_col!r} text); expected at least {min_matched:.0%}. "
            f"Is {reference} the full corpus of this split (EmoEvent: emoevent_es.csv for "
            f"splits/es), and are the text columns right (--text-col, --ref-text-col)?"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf8", newline="") as out:
        for record in [list(header)] + kept:  # tabs, no quoting: as `import tsv` reads it
            out.write("\t".join(" ".join(cell.split()) for cell in record) + "\n")
    return report
