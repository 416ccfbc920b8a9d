"""The one line reader (JSONL / text) and the one bad-line policy that every command uses."""

import logging
import re

import pytest

from spacy_beto import CorpusError
from spacy_beto.corpus.lines import BadLine, LinePolicy, TextLine, read_records
from spacy_beto.corpus.texts import iter_texts

MIXED = (
    b'{"text": "Hola", "id": 1}\n'  # 1 good, extra field kept
    b"\n"  # 2 blank: not yielded
    b'{"text": "roto"\n'  # 3 invalid JSON
    b'{"texto": "x"}\n'  # 4 no text field
    b"\xff\xfe bad\n"  # 5 invalid UTF-8
    b'{"text": "\\ud800"}\n'  # 6 unpaired surrogate
    b'["text"]\n'  # 7 not an object
    b'\xef\xbb\xbf{"text": "con BOM"}\r\n'  # 8 BOM and CRLF
)


def test_jsonl_good_and_bad_records_in_order(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    records = list(read_records(path))
    assert [r.line for r in records] == [1, 3, 4, 5, 6, 7, 8]
    good = [r for r in records if isinstance(r, TextLine)]
    assert [(r.line, r.text, r.fields) for r in good] == [
        (1, "Hola", {"id": 1}),
        (8, "con BOM", {}),
    ]
    bad = {r.line: r for r in records if isinstance(r, BadLine)}
    assert bad[3].kind == "invalid_json" and re.match(
        r"invalid JSON: .* \(column \d+\)", bad[3].reason
    )
    assert bad[4].reason == "no string field 'text'" and bad[7].kind == "no_text"
    assert bad[5].reason == "invalid UTF-8 (invalid start byte at byte 0)"
    assert bad[6].reason == "field 'text' has unpaired surrogates"
    assert bad[3].where == f"{path}:3"
    assert records[-1].end == len(MIXED)


def test_text_lines_binary_overlong_and_resume(tmp_path):
    path = tmp_path / "in.txt"
    data = b"uno\n" + b"x" * 50 + b"\n" + b"dos \x00 tres\n" + b"\n" + b"cuatro\n"
    path.write_bytes(data)
    records = list(read_records(path, max_line_bytes=20, reject_nul=True, blank_lines=True))
    assert [(r.line, type(r).__name__) for r in records] == [
        (1, "TextLine"), (2, "BadLine"), (3, "BadLine"), (4, "TextLine"), (5, "TextLine")
    ]  # fmt: skip
    assert [r.kind for r in records if isinstance(r, BadLine)] == ["overlong", "binary"]
    assert records[3].text == "" and records[4].text == "cuatro"
    # resume after line 3 at its byte offset: the same lines, the same numbers
    rest = list(read_records(path, offset=records[2].end, line=3, blank_lines=True))
    assert [(r.line, r.text) for r in rest] == [(4, ""), (5, "cuatro")]


def test_policy_raises_at_the_first_bad_line_with_the_hint(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    policy = LinePolicy()
    with pytest.raises(CorpusError) as err:
        list(policy.good(read_records(path)))
    assert str(err.value).startswith(f"{path}:3: invalid JSON: ")
    assert str(err.value).endswith(
        ". Fix it, or pass --skip-invalid (skip_invalid=True) to skip such lines, counted and "
        "listed."
    )


def test_policy_skips_counts_and_lists_capped(tmp_path, caplog):
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    policy = LinePolicy(skip_invalid=True, max_listed=3, max_logged=1)
    with caplog.at_level(logging.WARNING, logger="spacy_beto"):
        texts = [r.text for r in policy.good(read_records(path))]
    assert texts == ["Hola", "con BOM"]
    assert policy.n_skipped == 5
    assert dict(policy.counts) == {
        "invalid_json": 1, "no_text": 2, "invalid_utf8": 1, "surrogates": 1
    }  # fmt: skip
    assert policy.summary() == (
        "Skipped 5 invalid line(s) (no text field: 2, invalid JSON: 1, invalid UTF-8: 1, "
        "unpaired surrogates: 1)"
    )
    listing = policy.listing()
    assert listing[0].startswith(f"{path}:3: invalid JSON") and listing[-1] == "... and 2 more"
    assert len(listing) == 4
    # one log line per kind (max_logged=1), saying the rest are only counted
    assert len(caplog.records) == 4 and "only counted" in caplog.records[0].getMessage()


def test_iter_texts_uses_the_policy(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(MIXED)
    with pytest.raises(CorpusError, match=re.escape(f"{path}:3: invalid JSON")):
        list(iter_texts([path]))
    policy = LinePolicy(skip_invalid=True)
    assert list(iter_texts([path], policy=policy)) == ["Hola", "con BOM"]
    assert policy.n_skipped == 5
    text = tmp_path / "in.txt"
    text.write_text("  uno  \n\ndos\n", encoding="utf8")
    assert list(iter_texts([text])) == ["  uno  ", "dos"]
