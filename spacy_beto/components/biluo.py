"""Vectorised BILUO decoding of per-token tag probabilities (numpy only: runtime code).

Tags of L entity labels are numbered `O` = 0, then for label l: B = 1 + 4l, I = 2 + 4l,
L = 3 + 4l, U = 4 + 4l (`tag_names`). A sequence is valid BILUO when it starts with O/B/U,
ends with O/L/U, and every transition is allowed (`BiluoTables.allowed`): after O/L/U comes
O/B/U; after B-X or I-X comes I-X or L-X.

`decode` takes the log-probabilities of a whole batch (all documents' tokens concatenated):
it takes the argmax of every token at once, checks every transition at once, and runs a
constrained Viterbi (batched over the documents, one numpy step per token position) only for
the documents whose argmax sequence is not valid BILUO. Tokens in `forced_outside` (inside
preset entities) can only be O. `spans` extracts the entities of a valid sequence with array
operations.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy

PREFIXES = ("B", "I", "L", "U")
O_, B_, I_, L_, U_ = 0, 1, 2, 3, 4  # the kind of a tag (`BiluoTables.kind`)
# A transition that is not allowed, or a non-O tag on a forced token: far below any sum of
# clipped log-probabilities (LOG_FLOOR per token), and finite (no inf - inf).
NEG = -1e9
LOG_FLOOR = float(numpy.log(1e-30))


def tag_names(labels: Sequence[str]) -> List[str]:
    """["O", "B-L1", "I-L1", "L-L1", "U-L1", "B-L2", ...]."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in PREFIXES]


@dataclass(frozen=True)
class BiluoTables:
    """Per-tag kind and label, and the BILUO constraints as boolean tables."""

    kind: numpy.ndarray  # (T,) O_, B_, I_, L_ or U_
    label: numpy.ndarray  # (T,) label index, -1 for O
    allowed: numpy.ndarray  # (T, T) allowed[prev, cur]
    start_ok: numpy.ndarray  # (T,) may start a document
    end_ok: numpy.ndarray  # (T,) may end a document

    @classmethod
    def build(cls, n_labels: int) -> "BiluoTables":
        n_tags = 1 + 4 * n_labels
        kind = numpy.zeros(n_tags, dtype="i8")
        kind[1:] = numpy.tile(numpy.arange(B_, U_ + 1), n_labels)
        label = numpy.full(n_tags, -1, dtype="i8")
        label[1:] = numpy.repeat(numpy.arange(n_labels), 4)
        opens = (kind == B_) | (kind == I_)  # an entity is open after this tag
        starts_free = (kind == O_) | (kind == B_) | (kind == U_)  # valid outside an entity
        continues = (kind == I_) | (kind == L_)
        same_label = label[:, None] == label[None, :]
        allowed = numpy.where(opens[:, None], continues[None, :] & same_label, starts_free[None, :])
        end_ok = (kind == O_) | (kind == L_) | (kind == U_)
        return cls(kind, label, allowed, starts_free.copy(), end_ok)

    @property
    def n_tags(self) -> int:
        return int(self.kind.shape[0])


def log_probs(probs: numpy.ndarray) -> numpy.ndarray:
    """log(p), floored at log(1e-30) (a softmax may underflow to 0), float32."""
    return numpy.log(numpy.maximum(numpy.asarray(probs, dtype="f4"), 1e-30))


def valid_tokens(tags: numpy.ndarray, lengths: numpy.ndarray, tables: BiluoTables) -> numpy.ndarray:
    """(N,) bool: False where tag i breaks BILUO (with its predecessor, or at a document's
    start or end)."""
    ok = numpy.ones(tags.shape[0], dtype=bool)
    if not tags.size:
        return ok
    ends = numpy.cumsum(lengths)
    starts = (ends - lengths)[lengths > 0]
    ends = ends[lengths > 0] - 1
    is_start = numpy.zeros(tags.shape[0], dtype=bool)
    is_start[starts] = True
    ok[1:] = tables.allowed[tags[:-1], tags[1:]] | is_start[1:]
    ok[starts] &= tables.start_ok[tags[starts]]
    ok[ends] &= tables.end_ok[tags[ends]]
    return ok


def viterbi(emissions: Sequence[numpy.ndarray], tables: BiluoTables) -> List[numpy.ndarray]:
    """The valid BILUO tag sequence of highest summed log-probability of each document
    (`emissions[d]`: (n_d, T) log-probabilities, NEG where a tag is forbidden), batched over
    the documents: one numpy step per token position."""
    lengths = numpy.asarray([e.shape[0] for e in emissions], dtype="i8")
    n_docs, n_tags = len(emissions), tables.n_tags
    if not n_docs or not lengths.max(initial=0):
        return [numpy.zeros(0, dtype="i8") for _ in emissions]
    width = int(lengths.max())
    emit = numpy.zeros((n_docs, width, n_tags), dtype="f8")
    for d, e in enumerate(emissions):
        emit[d, : e.shape[0]] = e
    trans = numpy.where(tables.allowed, 0.0, NEG)
    end = numpy.where(tables.end_ok, 0.0, NEG)
    score = emit[:, 0] + numpy.where(tables.start_ok, 0.0, NEG)[None, :]
    back = numpy.zeros((n_docs, width, n_tags), dtype="i8")
    for t in range(1, width):
        total = score[:, :, None] + trans[None, :, :]  # (D, prev, cur)
        best_prev = total.argmax(axis=1)
        best = numpy.take_along_axis(total, best_prev[:, None, :], axis=1)[:, 0] + emit[:, t]
        active = (t < lengths)[:, None]
        score = numpy.where(active, best, score)
        back[:, t] = best_prev
    cur = (score + end[None, :]).argmax(axis=1)
    path = numpy.zeros((n_docs, width), dtype="i8")
    rows = numpy.arange(n_docs)
    for t in range(width - 1, 0, -1):
        active = t < lengths
        path[active, t] = cur[active]
        cur = numpy.where(active, back[rows, t, cur], cur)
    path[:, 0] = cur
    return [path[d, : lengths[d]] for d in range(n_docs)]


def decode(
    logp: numpy.ndarray,
    lengths: numpy.ndarray,
    tables: BiluoTables,
    forced_outside: Optional[numpy.ndarray] = None,
) -> numpy.ndarray:
    """The tag of every token (N,) of a batch: the argmax where the document's argmax sequence
    is valid BILUO, else the document's constrained Viterbi path. `logp`: (N, T) log-probs of
    all documents' tokens concatenated; `lengths`: (D,) tokens per document;
    `forced_outside`: (N,) bool, tokens that must be O (inside preset entities)."""
    lengths = numpy.asarray(lengths, dtype="i8")
    tags = logp.argmax(axis=1) if logp.shape[0] else numpy.zeros(0, dtype="i8")
    if forced_outside is not None and forced_outside.any():
        tags = numpy.where(forced_outside, 0, tags)
    bad_tokens = ~valid_tokens(tags, lengths, tables)
    if not bad_tokens.any():
        return tags
    doc_of = numpy.repeat(numpy.arange(lengths.shape[0]), lengths)
    bad_docs = numpy.unique(doc_of[bad_tokens])
    offsets = numpy.cumsum(lengths) - lengths
    emissions = []
    for d in bad_docs.tolist():
        lo, hi = int(offsets[d]), int(offsets[d] + lengths[d])
        e = logp[lo:hi].astype("f8")
        if forced_outside is not None:
            e[forced_outside[lo:hi], 1:] = NEG
        emissions.append(e)
    tags = tags.copy()
    for d, path in zip(bad_docs.tolist(), viterbi(emissions, tables)):
        tags[offsets[d] : offsets[d] + lengths[d]] = path
    return tags


def spans(
    tags: numpy.ndarray, lengths: numpy.ndarray, tables: BiluoTables
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """(starts, ends, labels) of the entities of a valid BILUO batch: global token offsets
    (end exclusive) and label indices, in order."""
    kind = tables.kind[tags]
    starts = numpy.flatnonzero((kind == B_) | (kind == U_))
    ends = numpy.flatnonzero((kind == L_) | (kind == U_)) + 1
    return starts, ends, tables.label[tags[starts]]


def span_log_probs(
    token_logp: numpy.ndarray, starts: numpy.ndarray, ends: numpy.ndarray
) -> numpy.ndarray:
    """Sum of `token_logp[start:end]` for every span (float64 prefix sums)."""
    prefix = numpy.concatenate([[0.0], numpy.cumsum(token_logp, dtype="f8")])
    return prefix[ends] - prefix[starts]
