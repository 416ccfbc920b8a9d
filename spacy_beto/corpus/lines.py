"""One reader for line-based input (JSONL records, plain-text lines) and one bad-line policy.

`read_records` yields, for each non-blank line of a file, either a `TextLine` (the text and the
record's other fields) or a `BadLine` (the reason it cannot be used), in file order, so a caller
can write an error record per bad line (annotate) or apply `LinePolicy`: raise `CorpusError`
naming FILE:LINE at the first bad line, or with `skip_invalid` skip it, count it per kind and
list it (capped). Every command that reads JSONL or text lines goes through here: convert,
build-mini (via `corpus.texts`), pretraining and annotate.
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Literal, Optional, Union

from ..errors import CorpusError

logger = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
Format = Literal["auto", "jsonl", "text"]

# Kinds of bad lines (`BadLine.kind`), with the words used in summaries.
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NO_TEXT = "no_text"
SURROGATES = "surrogates"
BINARY = "binary"
OVERLONG = "overlong"
KIND_NAMES = {
    INVALID_UTF8: "invalid UTF-8",
    INVALID_JSON: "invalid JSON",
    NO_TEXT: "no text field",
    SURROGATES: "unpaired surrogates",
    BINARY: "binary data",
    OVERLONG: "too long",
}
SKIP_HINT = "pass --skip-invalid (skip_invalid=True) to skip such lines, counted and listed"


@dataclass(frozen=True)
class TextLine:
    """A usable line: its text and, for JSONL, the record's other fields."""

    path: Path
    line: int
    text: str
    fields: Dict[str, Any]
    end: int  # byte offset just after the line (where reading resumes)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class BadLine:
    """A line that cannot be used, with the reason (`kind` is one of KIND_NAMES)."""

    path: Path
    line: int
    reason: str
    kind: str
    end: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


Record = Union[TextLine, BadLine]


def line_format(path: Union[str, Path], fmt: Format = "auto") -> Literal["jsonl", "text"]:
    """`fmt`, or with "auto" the format its suffix says (.jsonl/.json/.ndjson: JSONL)."""
    if fmt == "auto":
        return "jsonl" if Path(path).suffix.lower() in JSONL_SUFFIXES else "text"
    if fmt not in ("jsonl", "text"):
        raise CorpusError(f"unknown line format {fmt!r}: use 'jsonl', 'text' or 'auto'")
    return fmt


def read_records(
    path: Union[str, Path],
    *,
    fmt: Format = "auto",
    text_field: str = "text",
    offset: int = 0,
    line: int = 0,
    max_line_bytes: Optional[int] = None,
    reject_nul: bool = False,
    blank_lines: bool = False,
) -> Iterator[Record]:
    """Yield a TextLine or a BadLine for each non-blank line of `path`, in order.

    Bad: invalid UTF-8 (with the byte offset), invalid JSON (with the column), no string
    `text_field` in a JSON object, unpaired surrogates in it; with `reject_nul`, NUL bytes
    (binary data); with `max_line_bytes`, longer lines (read past in bounded memory). A BOM at
    the start of a line is dropped and the line ending removed; JSONL text is used as it is.
    `offset`/`line` start reading at that byte offset, counting lines from `line` (resume).
    With `blank_lines`, blank lines are yielded too, as TextLine with text "" (boundaries).
    """
    path = Path(path)
    is_jsonl = line_format(path, fmt) == "jsonl"
    limit = -1 if max_line_bytes is None else max_line_bytes + 1
    pos, line_no = offset, line
    with path.open("rb") as fileh:
        fileh.seek(offset)
        while True:
            raw = fileh.readline(limit)
            if not raw:
                return
            line_no += 1
            pos += len(raw)
            if max_line_bytes is not None and len(raw) > max_line_bytes and raw[-1:] != b"\n":
                while True:  # skip the rest of the line without holding it
                    rest = fileh.readline(1 << 20)
                    pos += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield BadLine(path, line_no, f"line over {max_line_bytes} bytes", OVERLONG, pos)
                continue
            if not raw.strip():
                if blank_lines:
                    yield TextLine(path, line_no, "", {}, pos)
                continue
            yield _parse(raw, path, line_no, pos, is_jsonl, text_field, reject_nul)


def _parse(
    raw: bytes,
    path: Path,
    line_no: int,
    end: int,
    is_jsonl: bool,
    text_field: str,
    reject_nul: bool,
) -> Record:
    if reject_nul and b"\0" in raw:
        return BadLine(path, line_no, "NUL bytes (binary data)", BINARY, end)
    try:
        text = raw.decode("utf8").rstrip("\r\n").lstrip("\ufeff")
    except UnicodeDecodeError as err:
        reason = f"invalid UTF-8 ({err.reason} at byte {err.start})"
        return BadLine(path, line_no, reason, INVALID_UTF8, end)
    if not is_jsonl:
        return TextLine(path, line_no, text, {}, end)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        reason = f"invalid JSON: {err.msg} (column {err.colno})"
        return BadLine(path, line_no, reason, INVALID_JSON, end)
    if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
        return BadLine(path, line_no, f"no string field '{text_field}'", NO_TEXT, end)
    value = record.pop(text_field)
    try:
        value.encode("utf8")
    except UnicodeEncodeError:
        reason = f"field '{text_field}' has unpaired surrogates"
        return BadLine(path, line_no, reason, SURROGATES, end)
    return TextLine(path, line_no, value, record, end)


def log_skip(message: str, count: int, max_logged: int = 5) -> None:
    """Log a skipped line; of each kind the first `max_logged`, the rest are only counted."""
    if count < max_logged:
        logger.warning("%s, skipped", message)
    elif count == max_logged:
        logger.warning("%s, skipped (further ones of this kind are only counted)", message)


@dataclass
class LinePolicy:
    """What to do with bad lines and invalid records: raise at the first, or skip and count.

    Without `skip_invalid`, `reject` raises CorpusError("FILE:LINE: reason; ... --skip-invalid
    ..."). With it, each rejection is counted per kind and listed as "FILE:LINE: reason" (the
    first `max_listed`; `listing()` says how many more) and, with `max_logged`, the first that
    many of each kind are logged as they happen (for long runs that report only at the end).
    """

    skip_invalid: bool = False
    unit: str = "line"  # what is skipped, for the summary: line, record, sentence, row
    max_listed: int = 50
    max_logged: int = 0
    counts: Counter = field(default_factory=Counter)
    listed: List[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return sum(self.counts.values())

    def reject(self, message: str, kind: str = "invalid record") -> None:
        """Raise for a bad line or record, or (skip_invalid) count and list it.

        `message` is "FILE:LINE: reason"; `kind` groups the counts: a BadLine's kind, or e.g.
        "invalid record" for a line that reads well but whose content is wrong.
        """
        if not self.skip_invalid:
            raise CorpusError(f"{message.rstrip('.')}. Fix it, or {SKIP_HINT}.")
        self.counts[kind] += 1
        if len(self.listed) < self.max_listed:
            self.listed.append(message)
        log_skip(message, self.counts[kind], self.max_logged)

    def good(self, records: Iterable[Record]) -> Iterator[TextLine]:
        """The TextLines of `records`; each BadLine goes through `reject`."""
        for record in records:
            if isinstance(record, BadLine):
                self.reject(f"{record.where}: {record.reason}", record.kind)
            else:
                yield record

    def summary(self) -> str:
        """E.g. "Skipped 3 invalid record(s) (invalid JSON: 2, invalid record: 1)"; "" if none."""
        if not self.counts:
            return ""
        kinds = ""
        if len(self.counts) > 1:
            counts = self.counts.most_common()
            kinds = " (" + ", ".join(f"{KIND_NAMES.get(k, k)}: {n}" for k, n in counts) + ")"
        return f"Skipped {self.n_skipped} invalid {self.unit}(s){kinds}"

    def listing(self) -> List[str]:
        """The listed skips, and "... and N more" if the list was capped."""
        rest = self.n_skipped - len(self.listed)
        return self.listed + ([f"... and {rest} more"] if rest > 0 else [])
