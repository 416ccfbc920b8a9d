"""Input files for `annotate_ray`: listing, sharding (the plan) and reading one shard.

Files are opened through pyarrow's filesystems, the layer Ray Data reads through, so a local
path and a URI (``s3://``, ``gs://``, ``hdfs://``, ...) take the same code path. A shard is a
fixed, deterministic slice of one file — ``shard_size`` records (non-blank lines of a text or
JSONL file, rows of a Parquet file) — so the same input always gives the same shards, which
is what makes resuming safe.
"""

import json
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import BetoConfigError, CorpusError

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMATS = ("auto", "jsonl", "text", "parquet")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/+")
_CHUNK = 8 << 20


@dataclass
class InputFile:
    uri: str  # what workers reopen: a local absolute path or scheme://path
    fmt: str  # jsonl | text | parquet
    size: int


@dataclass
class Shard:
    """One unit of work and one output file: records [first_record, first_record + n) of a file.

    For text/JSONL files ``start``/``stop`` are byte offsets and ``first_line`` the 1-based line
    number at ``start``; for Parquet they are row numbers (``first_line`` = start + 1)."""

    name: str
    file_index: int
    shard_index: int
    uri: str
    fmt: str
    start: int
    stop: int
    first_line: int
    n_records: int
    first_position: int = 0  # global 0-based index of the shard's first record in the input


def fix_uri(uri: str) -> str:
    """`pathlib.Path("s3://b/k")` collapses to "s3:/b/k"; restore the scheme's double slash."""
    match = _SCHEME.match(uri)
    if match and len(match.group(1)) > 1:  # not a Windows drive letter
        return f"{match.group(1)}://{uri[match.end() :]}"
    return uri


def absolute(uri: str) -> str:
    """A URI as given (scheme fixed), a local path made absolute (workers have another cwd)."""
    uri = fix_uri(uri)
    return uri if _SCHEME.match(uri) else os.path.abspath(uri)


def filesystem(uri: str) -> Tuple[Any, str]:
    """(pyarrow FileSystem, path in it) for a local path or any URI pyarrow knows."""
    from pyarrow import fs as pafs

    uri = absolute(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError for unknown schemes
        raise BetoConfigError(f"{uri}: cannot open this path or URI ({err}).") from err


def _join(uri: str, path: str) -> str:
    match = _SCHEME.match(fix_uri(uri))
    return f"{match.group(1)}://{path}" if match else path


def list_inputs(paths: Sequence[str], *, fmt: str = "auto") -> Tuple[List[InputFile], List[str]]:
    """The input files, in a fixed order, and the directory entries left out (unknown suffix).

    A path may be a file or a directory (read recursively, sorted; names starting with "." or
    "_" are ignored, as Ray Data and pyarrow do). A file named explicitly with an unknown
    suffix is read as plain text, like `annotate`."""
    from pyarrow import fs as pafs

    if fmt not in FORMATS:
        raise BetoConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    if not paths:
        raise BetoConfigError("No input path given.")
    files: List[InputFile] = []
    left_out: List[str] = []
    for given in paths:
        fsys, path = filesystem(given)
        info = fsys.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise BetoConfigError(f"{given}: input path not found. Check the path or URI.")
        if info.type == pafs.FileType.File:
            kind = fmt if fmt != "auto" else SUFFIXES.get(_suffix(path), "text")
            files.append(InputFile(_join(given, path), kind, info.size))
            continue
        infos = fsys.get_file_info(pafs.FileSelector(path, recursive=True))
        for entry in sorted(infos, key=lambda i: i.path):
            rel = entry.path[len(path) :].lstrip("/")
            if entry.type != pafs.FileType.File or any(
                part.startswith((".", "_")) for part in rel.split("/")
            ):
                continue
            found: Optional[str] = fmt if fmt != "auto" else SUFFIXES.get(_suffix(entry.path))
            if found is None:
                left_out.append(_join(given, entry.path))
                continue
            files.append(InputFile(_join(given, entry.path), found, entry.size))
    if not files:
        raise BetoConfigError(
            f"No input files in {', '.join(paths)} (known suffixes: {', '.join(SUFFIXES)}; "
            "give --format to read other names)."
        )
    return files, left_out


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def plan_file(file_index: int, file: InputFile, *, shard_size: int, text_field: str) -> List[Shard]:
    """Cut one file into shards of `shard_size` records (reads the file once, streaming)."""
    try:
        if file.fmt == "parquet":
            return _plan_parquet(file_index, file, shard_size=shard_size, text_field=text_field)
        return _plan_lines(file_index, file, shard_size=shard_size)
    except (BetoConfigError, CorpusError):
        raise
    except Exception as err:  # OSError, ArrowInvalid: a file that cannot be read
        raise CorpusError(
            f"{file.uri}: cannot read this file ({type(err).__name__}: {err})."
        ) from err


def _shard(file_index: int, k: int, file: InputFile, start: int, stop: int, line: int, n: int):
    name = f"part-{file_index:05d}-{k:05d}"
    return Shard(name, file_index, k, file.uri, file.fmt, start, stop, line, n)


def _plan_lines(file_index: int, file: InputFile, *, shard_size: int) -> List[Shard]:
    fsys, path = filesystem(file.uri)
    shards: List[Shard] = []
    start, first_line, n = 0, 1, 0
    offset, line_no = 0, 0
    with fsys.open_input_stream(path) as stream:
        for raw in _iter_lines(stream):
            line_no += 1
            if n == shard_size and raw.strip():
                shards.append(_shard(file_index, len(shards), file, start, offset, first_line, n))
                start, first_line, n = offset, line_no, 0
            if raw.strip():
                n += 1
            offset += len(raw)
    if n:
        shards.append(_shard(file_index, len(shards), file, start, offset, first_line, n))
    return shards


def _plan_parquet(file_index: int, file: InputFile, *, shard_size: int, text_field: str):
    import pyarrow.parquet as pq

    fsys, path = filesystem(file.uri)
    with fsys.open_input_file(path) as fileh:
        meta = pq.ParquetFile(fileh)
        names = meta.schema_arrow.names
        n_rows = meta.metadata.num_rows
    if text_field not in names:
        raise CorpusError(
            f"{file.uri}: no column '{text_field}' (columns: {', '.join(names)}); "
            "give --text-field."
        )
    return [
        _shard(
            file_index,
            k,
            file,
            lo,
            min(lo + shard_size, n_rows),
            lo + 1,
            min(shard_size, n_rows - lo),
        )
        for k, lo in enumerate(range(0, n_rows, shard_size))
    ]


def _iter_lines(stream, start: int = 0, stop: Optional[int] = None) -> Iterator[bytes]:
    """Raw lines (with their b"\\n") of a pyarrow stream, read in large chunks."""
    rest = b""
    remaining = None if stop is None else stop - start
    while remaining is None or remaining > 0:
        size = _CHUNK if remaining is None else min(_CHUNK, remaining)
        chunk = stream.read(size)
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


# (line number, text or None, extra fields or error message, id from the input or None)
Record = Tuple[int, Optional[str], Any, Optional[str]]


def read_shard(shard: Shard, *, text_field: str, id_field: Optional[str]) -> List[Record]:
    """The shard's records in input order; a bad one has text None and the reason."""
    fsys, path = filesystem(shard.uri)
    if shard.fmt == "parquet":
        return _read_parquet(fsys, path, shard, text_field=text_field, id_field=id_field)
    out: List[Record] = []
    with fsys.open_input_file(path) as fileh:
        fileh.seek(shard.start)
        for i, raw in enumerate(_iter_lines(fileh, shard.start, shard.stop)):
            if raw.strip():
                out.append(parse_line(raw, shard.first_line + i, shard.fmt, text_field, id_field))
    return out


def parse_line(
    raw: bytes, line_no: int, fmt: str, text_field: str, id_field: Optional[str]
) -> Record:
    """One text/JSONL line -> (line, text, extra, id), or (line, None, reason, id)."""
    try:
        line = raw.decode("utf8").rstrip("\r\n")
    except UnicodeDecodeError as err:
        return line_no, None, f"invalid UTF-8 ({err.reason} at byte {err.start})", None
    if fmt == "text":
        return line_no, line, None, None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return line_no, None, f"invalid JSON: {err.msg} (column {err.colno})", None
    if not isinstance(record, dict):
        return line_no, None, f"not a JSON object, no field '{text_field}'", None
    rec_id = _id(record.pop(id_field, None)) if id_field else None
    text = record.pop(text_field, None)
    if not isinstance(text, str):
        return line_no, None, f"no string field '{text_field}'", rec_id
    try:
        text.encode("utf8")
    except UnicodeEncodeError:
        return line_no, None, f"field '{text_field}' has unpaired surrogates", rec_id
    return line_no, text, record, rec_id


def _id(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _read_parquet(fsys, path: str, shard: Shard, *, text_field: str, id_field: Optional[str]):
    import pyarrow.parquet as pq

    with fsys.open_input_file(path) as fileh:
        pfile = pq.ParquetFile(fileh)
        columns = [text_field] + ([id_field] if id_field in pfile.schema_arrow.names else [])
        groups, first_row, row = [], None, 0
        for g in range(pfile.metadata.num_row_groups):
            n = pfile.metadata.row_group(g).num_rows
            if row + n > shard.start and row < shard.stop:
                groups.append(g)
                first_row = row if first_row is None else first_row
            row += n
        table = pfile.read_row_groups(groups, columns=columns)
    table = table.slice(shard.start - (first_row or 0), shard.n_records)
    texts = table.column(text_field).to_pylist()
    ids = table.column(id_field).to_pylist() if len(columns) > 1 else [None] * len(texts)
    out: List[Record] = []
    for i, (text, rec_id) in enumerate(zip(texts, ids)):
        if not isinstance(text, str):
            out.append((shard.start + i + 1, None, f"no string field '{text_field}'", _id(rec_id)))
        else:
            out.append((shard.start + i + 1, text, None, _id(rec_id)))
    return out


def shard_to_dict(shard: Shard) -> Dict[str, Any]:
    return asdict(shard)
