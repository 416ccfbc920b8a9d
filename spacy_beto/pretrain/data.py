"""Stream raw text files into masked pretraining batches: bounded memory, resumable.

Input: plain text (one sentence or document per line; a blank line ends a document) or JSONL
with a "text" field. Files are read as bytes, a line at a time, in chunks of `chunk_lines`
lines, in an order of files drawn afresh for every epoch; a chunk is tokenized, cut into
examples, shuffled and cut into batches. A `Position` (chunk start as file and byte offset,
batches of the chunk consumed) is enough to resume at the same batch, and the file order,
shuffling and masking random generators are seeded from (seed, epoch, chunk, batch), so a
resumed run sees exactly the batches an uninterrupted run would.

Examples (MLM): with `pack` (the default), the documents of a chunk are shuffled and their
lines concatenated into a running stream of word pieces, with [SEP] between documents, and
the stream is cut at word boundaries into full sequences of `max_length` pieces ([CLS] ...
[SEP]), as RoBERTa's FULL-SENTENCES; so a step sees `batch_size * max_length` pieces of real
text, not one short line per example, and the packing differs every epoch. Without `pack`,
each line is one example (split into windows if too long). Masks are drawn for every batch
(dynamic masking: a new mask for the same text every epoch). With NSP, examples are sentence
pairs and are never packed.

Bad input: a missing file, a binary one (NUL bytes in its first 64 KB) or one in another
8-bit encoding is a CorpusError before training starts; an empty file is skipped with a
warning; single lines that are too long, not UTF-8, contain NUL bytes or are invalid JSONL are
skipped and counted in `DataStats` (lines are read by `corpus.lines.read_records`, as every
command reads them; pretraining always skips bad lines, as web-scale text has some). No text
at all is a CorpusError before the first step.
"""

import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..corpus.lines import (
    BINARY,
    INVALID_JSON,
    INVALID_UTF8,
    NO_TEXT,
    OVERLONG,
    SURROGATES,
    BadLine,
    log_skip,
    read_records,
)
from ..corpus.texts import expand_paths
from ..errors import BetoConfigError, CorpusError, require_positive
from .masking import IGNORE_INDEX, MaskingConfig, mask_whole_words
from .nsp import NO_PAIR, make_pairs

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1_000_000
SNIFF_BYTES = 64 * 1024
MAX_WARNINGS = 5
# Examples are sorted by length within buckets of this many batches, to cut padding.
BUCKET_BATCHES = 50
# Lines read, tokenized and shuffled together (the unit of shuffling and of memory).
CHUNK_LINES = 50_000

# DataStats field counting each kind of bad line (corpus.lines kinds).
SKIP_FIELDS = {
    OVERLONG: "overlong_lines",
    BINARY: "binary_lines",
    INVALID_UTF8: "non_utf8_lines",
    INVALID_JSON: "invalid_json_lines",
    NO_TEXT: "invalid_json_lines",
    SURROGATES: "invalid_json_lines",
}

# (input_ids, word_ids, token_type_ids, nsp_label)
Example = Tuple[List[int], List[Optional[int]], List[int], int]


@dataclass
class DataStats:
    """Counts of used and skipped input, for the progress log and the metrics file."""

    lines: int = 0
    empty_files: int = 0
    overlong_lines: int = 0
    non_utf8_lines: int = 0
    binary_lines: int = 0
    invalid_json_lines: int = 0

    @property
    def skipped_lines(self) -> int:
        return (
            self.overlong_lines + self.non_utf8_lines + self.binary_lines + self.invalid_json_lines
        )

    def to_dict(self) -> Dict[str, int]:
        return asdict(self)

    def skip(self, bad: BadLine) -> None:
        """Count a skipped line under its kind; log the first MAX_WARNINGS of each kind."""
        name = SKIP_FIELDS.get(bad.kind, "invalid_json_lines")
        setattr(self, name, getattr(self, name) + 1)
        log_skip(f"{bad.where}: {bad.reason}", getattr(self, name), MAX_WARNINGS)

    def update(self, values: Dict[str, int]) -> None:
        for f in fields(self):
            setattr(self, f.name, int(values.get(f.name, 0)))


@dataclass
class Position:
    """Where the data stream stands: resume reads chunk `chunk` again and skips `batch` batches."""

    epoch: int = 0
    chunk: int = 0
    file_index: int = 0
    offset: int = 0
    line: int = 0
    batch: int = 0
    stats: Dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "Position":
        return cls(**values)


def check_files(paths: Iterable[Union[str, Path]]) -> Tuple[List[Path], int]:
    """Input files that have content, and the number of empty ones (skipped, with a warning).

    Raises CorpusError for a missing path, a binary or non-UTF-8 file, or no text at all.
    """
    usable: List[Path] = []
    empty: List[str] = []
    for path in expand_paths(paths):
        if path.stat().st_size == 0:
            logger.warning("%s: empty file, skipped", path)
            empty.append(str(path))
            continue
        with path.open("rb") as fileh:
            head = fileh.read(SNIFF_BYTES)
        if b"\0" in head:
            raise CorpusError(
                f"{path}: binary file (NUL bytes in its first {len(head)} bytes), not text. "
                f"Give plain UTF-8 text, one sentence or document per line."
            )
        if _legacy_encoding(head):
            raise CorpusError(
                f"{path}: not UTF-8 text (its first {len(head)} bytes have invalid UTF-8 and no "
                f"valid non-ASCII UTF-8: a legacy encoding such as Latin-1?). Re-encode it, "
                f"e.g. `iconv -f latin1 -t utf-8`."
            )
        usable.append(path)
    if not usable:
        raise CorpusError(f"No text to pretrain on: all input files are empty ({_names(empty)}).")
    return usable, len(empty)


def _names(paths: Sequence[str], limit: int = 5) -> str:
    more = f", ... ({len(paths)} in all)" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def _legacy_encoding(head: bytes) -> bool:
    """True if `head` has lines that are not UTF-8 and none with valid non-ASCII UTF-8.

    A UTF-8 file with a few stray bytes is read, its bad lines skipped and counted; a file in
    another 8-bit encoding is an error.
    """
    bad = non_ascii = 0
    lines = head.split(b"\n")
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut mid-character
    for line in lines:
        try:
            line.decode("utf8")
        except UnicodeDecodeError:
            bad += 1
            continue
        non_ascii += not line.isascii()
    return bad > 0 and non_ascii == 0


def read_lines(
    files: Sequence[Path],
    *,
    file_index: int,
    offset: int,
    line: int,
    max_line_bytes: int,
    stats: DataStats,
) -> Iterator[Tuple[Optional[str], int, int, int]]:
    """Yield (text, file_index, offset, line) with the position after each line.

    text None marks a document boundary (blank line, end of file). Bad lines (see
    `corpus.lines.read_records`) are skipped, counted in `stats` and the first few logged.
    """
    for fi in range(file_index, len(files)):
        pos, line_no = (offset, line) if fi == file_index else (0, 0)
        records = read_records(
            files[fi],
            offset=pos,
            line=line_no,
            max_line_bytes=max_line_bytes,
            reject_nul=True,
            blank_lines=True,
        )
        for record in records:
            if isinstance(record, BadLine):
                stats.skip(record)
                continue
            text = record.text.strip()
            if not text:
                yield None, fi, record.end, record.line
                continue
            stats.lines += 1
            yield text, fi, record.end, record.line
        yield None, fi + 1, 0, 0


class PretrainingData:
    """Masked (and optionally sentence-pair) batches from raw text files, over epochs."""

    def __init__(
        self,
        paths: Iterable[Union[str, Path]],
        *,
        tokenizer: Any,
        batch_size: int,
        max_length: int = 128,
        nsp: bool = False,
        seed: int = 0,
        word_rate: float = 0.15,
        chunk_lines: int = CHUNK_LINES,
        max_line_bytes: int = MAX_LINE_BYTES,
        pack: bool = True,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise BetoConfigError("Pretraining needs a fast (Rust) tokenizer for word ids.")
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise BetoConfigError("The tokenizer has no [MASK] or [PAD] token.")
        require_positive(
            batch_size=batch_size, chunk_lines=chunk_lines, max_line_bytes=max_line_bytes
        )
        if max_length < 8:
            raise BetoConfigError(f"max_length must be at least 8, got {max_length}.")
        self.files, n_empty = check_files(paths)
        self.stats = DataStats(empty_files=n_empty)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.nsp = nsp
        self.pack = pack and not nsp
        self.seed = seed
        self.chunk_lines = chunk_lines
        self.max_line_bytes = max_line_bytes
        self.masking = MaskingConfig(
            mask_id=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
            special_ids=tuple(sorted(set(tokenizer.all_special_ids))),
            word_rate=word_rate,
        )

    def batches(
        self, *, start: Optional[Position] = None
    ) -> Iterator[Tuple[Dict[str, Any], Position]]:
        """Endless batches from `start`, each with the position after it."""
        start = start or Position()
        if start.stats:
            self.stats.update(start.stats)
        epoch, resume = start.epoch, None if start == Position() else start
        while True:
            n_batches = 0
            for chunk_no, docs, where, snapshot in self._chunks(epoch, resume):
                batches = self._chunk_batches(docs, epoch, chunk_no)
                skip = resume.batch if resume is not None and chunk_no == resume.chunk else 0
                for b in range(skip, len(batches)):
                    n_batches += 1
                    batch = self._collate(batches[b], self._rng(epoch, chunk_no, b + 1))
                    pos = Position(epoch, chunk_no, *where, batch=b + 1, stats=snapshot)
                    yield batch, pos
            if n_batches == 0 and resume is None:
                raise CorpusError(
                    f"No usable text lines in {', '.join(map(str, self.files))}: "
                    f"{self.stats.skipped_lines} skipped ({self.stats.to_dict()})."
                )
            if epoch == 0:
                self.log_stats()
            epoch, resume = epoch + 1, None

    def one_pass(self, *, max_lines: int) -> List[Dict[str, Any]]:
        """Batches of the first `max_lines` lines, in order, with fixed masks (a dev set)."""
        docs: List[List[str]] = [[]]
        n = 0
        for text, *_ in read_lines(
            self.files,
            file_index=0,
            offset=0,
            line=0,
            max_line_bytes=self.max_line_bytes,
            stats=self.stats,
        ):
            if n >= max_lines:
                break
            if text is None:
                docs.append([])
            else:
                docs[-1].append(text)
                n += 1
        examples = self._encode([d for d in docs if d], self._rng(0, 0, 0), shuffle=False)
        if not examples:
            raise CorpusError(f"No usable text lines in {', '.join(map(str, self.files))}.")
        rng = self._rng(0, 0, 1)
        return [
            self._collate(examples[i : i + self.batch_size], rng)
            for i in range(0, len(examples), self.batch_size)
        ]

    def log_stats(self) -> None:
        """Log the counts of the first epoch (later epochs read the same lines)."""
        stats = self.stats
        logger.info(
            "Text read: %d lines used, %d skipped (%d too long, %d not UTF-8, "
            "%d binary, %d invalid JSONL), %d empty files",
            stats.lines,
            stats.skipped_lines,
            stats.overlong_lines,
            stats.non_utf8_lines,
            stats.binary_lines,
            stats.invalid_json_lines,
            stats.empty_files,
        )

    def _rng(self, epoch: int, chunk: int, batch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, chunk, batch])

    def epoch_files(self, epoch: int) -> List[Path]:
        """The files in the order epoch `epoch` reads them: shuffled afresh every epoch, so
        that chunks mix sources differently (Position.file_index indexes this order)."""
        if len(self.files) < 2:
            return list(self.files)
        order = np.random.default_rng([self.seed, epoch, 0, 0, 1]).permutation(len(self.files))
        return [self.files[i] for i in order]

    def _chunks(
        self, epoch: int, resume: Optional[Position]
    ) -> Iterator[Tuple[int, List[List[str]], Tuple[int, int, int], Dict[str, int]]]:
        """(chunk number, documents, chunk start (file, offset, line), stats at chunk start)."""
        if resume is not None:
            where, chunk_no = (resume.file_index, resume.offset, resume.line), resume.chunk
        else:
            where, chunk_no = (0, 0, 0), 0
        # Counts cover the first epoch; later epochs count into a throwaway.
        stats = self.stats if epoch == 0 else DataStats()
        snapshot = self.stats.to_dict()
        docs: List[List[str]] = [[]]
        n = 0
        lines = read_lines(
            self.epoch_files(epoch),
            file_index=where[0],
            offset=where[1],
            line=where[2],
            max_line_bytes=self.max_line_bytes,
            stats=stats,
        )
        for text, fi, pos, line_no in lines:
            if text is None:
                if docs[-1]:
                    docs.append([])
            else:
                docs[-1].append(text)
                n += 1
            if n >= self.chunk_lines:
                yield chunk_no, [d for d in docs if d], where, snapshot
                chunk_no, where, docs, n = chunk_no + 1, (fi, pos, line_no), [[]], 0
                snapshot = self.stats.to_dict()
        if n:
            yield chunk_no, [d for d in docs if d], where, snapshot

    def _chunk_batches(self, docs: List[List[str]], epoch: int, chunk: int) -> List[List[Example]]:
        """Shuffle; sort by length within buckets of BUCKET_BATCHES batches (less padding);
        cut into batches; shuffle the batches."""
        rng = self._rng(epoch, chunk, 0)
        examples = self._encode(docs, rng)
        order = rng.permutation(len(examples))
        examples = [examples[i] for i in order]
        bucket = self.batch_size * BUCKET_BATCHES
        batches: List[List[Example]] = []
        for start in range(0, len(examples), bucket):
            group = sorted(examples[start : start + bucket], key=lambda ex: len(ex[0]))
            batches.extend(
                group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)
            )
        return [batches[i] for i in rng.permutation(len(batches))]

    def _encode(
        self, docs: List[List[str]], rng: np.random.Generator, *, shuffle: bool = True
    ) -> List[Example]:
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        if self.pack:
            return self._encode_packed(docs, rng if shuffle else None)
        if self.nsp:
            pairs = make_pairs(docs, rng=rng)
        else:
            pairs = [(sent, None, NO_PAIR) for doc in docs for sent in doc]
        texts = [a for a, _, _ in pairs] + [b for _, b, _ in pairs if b is not None]
        enc = self.tokenizer(
            texts, add_special_tokens=False, return_attention_mask=False, verbose=False
        )
        pieces = [(enc["input_ids"][i], enc.word_ids(i)) for i in range(len(texts))]
        b_index = len(pairs)
        examples: List[Example] = []
        for i, (_, b, label) in enumerate(pairs):
            a_ids, a_words = pieces[i]
            if b is None:
                for ids, words in _windows(a_ids, a_words, self.max_length - 2):
                    n = len(ids)
                    examples.append(
                        ([cls_id, *ids, sep_id], [None, *words, None], [0] * (n + 2), NO_PAIR)
                    )
                continue
            b_ids, b_words = pieces[b_index]
            b_index += 1
            a_ids, a_words, b_ids, b_words = _truncate_pair(
                a_ids, a_words, b_ids, b_words, self.max_length - 3
            )
            if not a_ids or not b_ids:
                continue
            examples.append(
                (
                    [cls_id, *a_ids, sep_id, *b_ids, sep_id],
                    [None, *a_words, None, *b_words, None],
                    [0] * (len(a_ids) + 2) + [1] * (len(b_ids) + 1),
                    label,
                )
            )
        return examples

    def _encode_packed(
        self, docs: List[List[str]], rng: Optional[np.random.Generator]
    ) -> List[Example]:
        """Full sequences of running text: documents (shuffled by `rng`, if given) joined with
        [SEP] between them, cut at word boundaries into `max_length`-piece examples."""
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        texts = [line for doc in docs for line in doc]
        if not texts:
            return []
        enc = self.tokenizer(
            texts, add_special_tokens=False, return_attention_mask=False, verbose=False
        )
        starts = np.cumsum([0] + [len(doc) for doc in docs])
        order = range(len(docs)) if rng is None else rng.permutation(len(docs)).tolist()
        ids: List[int] = []
        words: List[Optional[int]] = []
        next_word = 0
        for d in order:
            if ids:
                ids.append(sep_id)
                words.append(None)
            for i in range(starts[d], starts[d + 1]):
                line_words = [w for w in enc.word_ids(i) if w is not None]
                if not line_words:
                    continue
                ids.extend(enc["input_ids"][i])
                words.extend(w + next_word for w in line_words)
                next_word += max(line_words) + 1
        examples: List[Example] = []
        for win_ids, win_words in _windows(ids, words, self.max_length - 2):
            # A document separator at either edge of a window separates nothing.
            lo, hi = 0, len(win_ids)
            while lo < hi and win_words[lo] is None:
                lo += 1
            while hi > lo and win_words[hi - 1] is None:
                hi -= 1
            if lo == hi:
                continue
            n = hi - lo
            examples.append(
                (
                    [cls_id, *win_ids[lo:hi], sep_id],
                    [None, *win_words[lo:hi], None],
                    [0] * (n + 2),
                    NO_PAIR,
                )
            )
        return examples

    def _collate(self, examples: List[Example], rng: np.random.Generator) -> Dict[str, Any]:
        import torch

        width = max(len(ex[0]) for ex in examples)
        pad = self.tokenizer.pad_token_id
        input_ids = np.full((len(examples), width), pad, dtype=np.int64)
        labels = np.full((len(examples), width), IGNORE_INDEX, dtype=np.int64)
        types = np.zeros((len(examples), width), dtype=np.int64)
        attention = np.zeros((len(examples), width), dtype=np.int64)
        n_words = 0
        for row, (ids, words, type_ids, _) in enumerate(examples):
            masked, mlm_labels = mask_whole_words(ids, words, config=self.masking, rng=rng)
            n = len(ids)
            input_ids[row, :n] = masked
            labels[row, :n] = mlm_labels
            types[row, :n] = type_ids
            attention[row, :n] = 1
            n_words += len({(t, w) for t, w in zip(type_ids, words) if w is not None})
        return {
            "input_ids": torch.from_numpy(input_ids),
            "token_type_ids": torch.from_numpy(types),
            "attention_mask": torch.from_numpy(attention),
            "labels": torch.from_numpy(labels),
            "next_sentence_label": torch.tensor([ex[3] for ex in examples], dtype=torch.long),
            "n_words": n_words,
        }


def _windows(
    ids: List[int], words: List[Optional[int]], size: int
) -> Iterator[Tuple[List[int], List[Optional[int]]]]:
    """Split a piece sequence into windows of at most `size` pieces, at word boundaries."""
    start = 0
    while start < len(ids):
        end = min(start + size, len(ids))
        if end < len(ids):
            cut = end
            while cut > start + 1 and words[cut] == words[cut - 1]:
                cut -= 1
            if cut > start + 1:
                end = cut
        yield ids[start:end], words[start:end]
        start = end


def _truncate_pair(
    a_ids: List[int],
    a_words: List[Optional[int]],
    b_ids: List[int],
    b_words: List[Optional[int]],
    size: int,
) -> Tuple[List[int], List[Optional[int]], List[int], List[Optional[int]]]:
    """Cut the longer segment from its end until both fit in `size` pieces."""
    a_len, b_len = len(a_ids), len(b_ids)
    while a_len + b_len > size:
        if a_len >= b_len:
            a_len -= 1
        else:
            b_len -= 1
    return a_ids[:a_len], a_words[:a_len], b_ids[:b_len], b_words[:b_len]
