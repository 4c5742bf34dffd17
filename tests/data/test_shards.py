"""A file read in shards gives the batches, ids and quarantine a whole read gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_batch, read_records, read_shard
from synthpipe.data.shards import byte_pieces, count_lines, line_shards, row_shards
from synthpipe.data.writers import write_records


def _messy_jsonl(path: Path, n: int = 60, trailing_newline: bool = True) -> Path:
    lines = []
    for i in range(n):
        if i % 11 == 3:
            lines.append("")  # blank line
        elif i % 13 == 5:
            lines.append("{not json")
        elif i % 17 == 7:
            lines.append(json.dumps({"id": f"r{i}"}))  # no text: quarantined
        elif i % 19 == 2:
            lines.append(json.dumps({"id": "r1", "text": "repeats an id"}))
        else:
            lines.append(json.dumps({"id": f"r{i}", "text": f"record {i} " * (i % 5 + 1)}))
    body = "\n".join(lines) + ("\n" if trailing_newline else "")
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    return path


def _whole(path: Path, batch_size: int) -> tuple[list, list]:
    q = Quarantine()
    batches = list(read_records(path, batch_size=batch_size, quarantine=q, required=["text"]))
    return batches, [(e["line"], e["reason"]) for e in q.entries]


def _sharded(path: Path, shards, batch_size: int) -> tuple[list, list, list]:
    q = Quarantine()
    got = []
    for shard in shards:
        got.extend(read_shard(path, shard, batch_size=batch_size, quarantine=q, required=["text"]))
    return got, [(e["line"], e["reason"]) for e in q.entries], shards


def _jsonl_shards(path: Path, pieces: int, batch_size: int):
    cut = byte_pieces(path, pieces, min_bytes=1)
    return line_shards(cut, [count_lines(str(path), s, e) for s, e in cut], batch_size)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 7, 64])
@pytest.mark.parametrize("pieces", [1, 3, 8, 40])
@pytest.mark.parametrize("trailing_newline", [True, False])
def test_jsonl_shards_give_the_whole_reads_batches(tmp_path, batch_size, pieces, trailing_newline):
    path = _messy_jsonl(tmp_path / "in.jsonl", trailing_newline=trailing_newline)
    whole, whole_quarantine = _whole(path, batch_size)
    got, quarantine, shards = _sharded(path, _jsonl_shards(path, pieces, batch_size), batch_size)
    assert [b.index for b in got] == list(range(len(whole)))
    # a duplicate id is only caught inside its shard; the test's repeats sit in other shards
    # when there are several, so compare ids outside those repeats
    repeats = {i + 1 for i in range(60) if i % 19 == 2 and i % 11 != 3 and i % 13 != 5 and i % 17 != 7}
    flat_whole = [(r["id"], r["_lineage"]["line"]) for b in whole for r in b]
    flat_got = [(r["id"], r["_lineage"]["line"]) for b in got for r in b.records if r["_lineage"]["line"] not in repeats]
    assert flat_got == [x for x in flat_whole if x[1] not in repeats]
    assert [e for e in quarantine if e[0] not in repeats] == [e for e in whole_quarantine if e[0] not in repeats]


def test_duplicates_named_from_outside_are_quarantined_as_in_a_whole_read(tmp_path):
    path = _messy_jsonl(tmp_path / "in.jsonl")
    whole, whole_quarantine = _whole(path, 4)
    shards = _jsonl_shards(path, 8, 4)
    q = Quarantine()
    first_r1 = next(r["_lineage"]["line"] for b in whole for r in b if r["id"] == "r1")
    later = {e[0]: "r1" for e in whole_quarantine if "duplicate id" in e[1]}
    got = [b for s in shards for b in read_shard(path, s, batch_size=4, quarantine=q, required=["text"], duplicates=later)]
    assert [[r["id"] for r in b.records] for b in got] == [[r["id"] for r in b] for b in whole]
    assert [(e["line"], e["reason"]) for e in q.entries] == whole_quarantine
    assert first_r1 not in later


def test_a_batch_is_read_directly_from_where_its_shard_placed_it(tmp_path):
    path = _messy_jsonl(tmp_path / "in.jsonl", n=90)
    whole, _ = _whole(path, 6)
    got, _, _ = _sharded(path, _jsonl_shards(path, 5, 6), 6)
    for b in got:
        again = read_batch(path, b.index, b.at, 6, required=["text"])
        assert [r["id"] for r in again.records] == [r["id"] for r in b.records]
        assert again.lines == b.lines


@pytest.mark.parametrize("batch_size", [1, 3, 10])
def test_parquet_shards_are_row_ranges(tmp_path, batch_size):
    path = tmp_path / "in.parquet"
    write_records([{"id": f"r{i}", "text": f"t{i}"} for i in range(47)], path)
    whole, _ = _whole(path, batch_size)
    got, _, _ = _sharded(path, row_shards(47, batch_size, 4), batch_size)
    assert [[r["id"] for r in b.records] for b in got] == [[r["id"] for r in b] for b in whole]
    assert [b.index for b in got] == list(range(len(whole)))


def test_small_files_stay_one_piece_and_pieces_start_at_lines(tmp_path):
    path = _messy_jsonl(tmp_path / "in.jsonl", n=200)
    assert byte_pieces(path, 8) == [(0, path.stat().st_size)]  # below the minimum piece size
    data = path.read_bytes()
    for start, _end in byte_pieces(path, 8, min_bytes=100):
        assert start == 0 or data[start - 1 : start] == b"\n"
    assert sum(count_lines(str(path), s, e) for s, e in byte_pieces(path, 8, min_bytes=100)) == 200
