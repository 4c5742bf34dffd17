"""Batched response-cache writes: replies buffered by the client land in one transaction per
batch, are served from memory until then, and a SIGKILL loses only what was not flushed yet."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe import Pipeline
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm import cache as cache_module
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatResponse, Usage
from synthpipe.pipeline.sources import FromRecords


def response(text: str) -> ChatResponse:
    return ChatResponse(texts=[text], finish_reasons=["stop"], usage=Usage(2, 1), model="m")


def rows_on_disk(path: Path) -> dict[str, str]:
    """What another connection sees: only committed rows."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, response FROM responses"))
    finally:
        conn.close()


@pytest.fixture
def cache(tmp_path: Path):
    with ResponseCache(tmp_path / "cache.sqlite") as c:
        yield c


def test_buffered_replies_are_served_before_they_are_written(cache: ResponseCache) -> None:
    cache.put_buffered("a", response("A"))
    cache.put_buffered("b", response("B"))
    assert rows_on_disk(cache.path) == {}  # nothing written yet...
    assert cache.get("a").texts == ["A"] and cache.get("a").cached  # ...but served from memory
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "b"}
    cache.flush()
    assert set(rows_on_disk(cache.path)) == {"a", "b"}
    assert cache.get("b").texts == ["B"]


def test_first_writer_wins_across_buffer_and_file(cache: ResponseCache) -> None:
    cache.put("a", response("stored"))
    cache.put_buffered("a", response("later"))
    cache.put_buffered("b", response("first"))
    cache.put_buffered("b", response("second"))
    cache.flush()
    assert cache.get("a").texts == ["stored"] and cache.get("b").texts == ["first"]
    assert cache.stats()["entries"] == 2


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each SQLite insert transaction the cache makes."""
    sizes: list[int] = []
    insert = ResponseCache._insert
    monkeypatch.setattr(
        ResponseCache, "_insert", staticmethod(lambda c, rows: (sizes.append(len(rows)), insert(c, rows)))
    )
    return sizes


def test_a_batch_is_one_transaction(cache: ResponseCache, writes: list[int]) -> None:
    for i in range(40):
        cache.put_buffered(f"k{i}", response(str(i)))
    cache.flush()
    cache.flush()  # nothing pending: no write
    assert writes == [40]
    assert len(rows_on_disk(cache.path)) == 40


def test_enough_pending_rows_flush_on_their_own(
    cache: ResponseCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "FLUSH_ROWS", 10)
    for i in range(25):
        cache.put_buffered(f"k{i}", response(str(i)))
    assert len(rows_on_disk(cache.path)) == 20  # two full batches; five still buffered
    cache.close()
    assert len(rows_on_disk(cache.path)) == 25  # close() writes the rest


def test_a_timer_on_the_running_loop_flushes_a_trailing_batch(
    cache: ResponseCache, monkeypatch
) -> None:
    monkeypatch.setattr(cache_module, "FLUSH_SECONDS", 0.01)

    async def main() -> int:
        cache.put_buffered("late", response("x"))  # no further put, no step batch end
        for _ in range(500):  # waits for the timer, whatever the machine's load
            await asyncio.sleep(0.01)
            if rows_on_disk(cache.path):
                break
        return len(rows_on_disk(cache.path))

    assert asyncio.run(main()) == 1


def test_stats_and_pickling_write_what_is_buffered(cache: ResponseCache) -> None:
    import pickle

    cache.put_buffered("a", response("A"))
    assert cache.stats()["entries"] == 1
    cache.put_buffered("b", response("B"))
    copy = pickle.loads(pickle.dumps(cache))
    try:
        assert copy.get("b").texts == ["B"]
    finally:
        copy.close()


def test_a_run_writes_each_batch_in_one_transaction(tmp_path: Path, writes: list[int]) -> None:
    with ScriptedOpenAIServer() as server:
        pipe = Pipeline(
            "batched",
            {
                "questions": FromRecords(
                    records=[{"id": f"q{i:02d}", "q": f"q {i}"} for i in range(30)]
                ),
                "answer": TextGeneration(prompt="{{ q }}", output_field="answer"),
            },
            llms={
                "default": LLMConfig(backend="openai", base_url=server.base_url, model="test-model")
            },
            llm_cache=str(tmp_path / "cache.sqlite"),
            batch_size=10,
        )
        result = pipe.run(tmp_path / "run")
    assert len(result.kept) == 30
    assert sum(writes) == 30 and len(writes) <= 3  # one write per batch at most, none per reply
    assert len(rows_on_disk(tmp_path / "cache.sqlite")) == 30


_BATCH_WRITER = textwrap.dedent(
    """
    import sys
    from synthpipe.llm import cache as cache_module
    from synthpipe.llm.cache import ResponseCache
    from synthpipe.llm.types import ChatResponse
    cache_module.FLUSH_SECONDS = 1e9  # flush only at batch ends (no loop runs, so no timer either)
    cache = ResponseCache(sys.argv[1])
    b = 0
    while True:
        for j in range(20):
            text = "x" * ((b * 20 + j) % 3000)  # varied sizes: pages split, the WAL grows and checkpoints
            cache.put_buffered(f"b{b}-{j}", ChatResponse(texts=[text], model="m"))
        cache.flush()
        print(b, flush=True)  # batch b is written
        b += 1
    """
)


def test_sigkill_mid_batch_loses_only_unflushed_replies(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _BATCH_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    flushed = -1
    try:
        while flushed < 200:  # well into the loop: kills land mid-batch or mid-flush
            flushed = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    flushed = max(
        [flushed, *(int(line) for line in proc.stdout.read().split("\n") if line.strip())]
    )

    with ResponseCache(path) as reopened:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = [k for (k,) in conn.execute("SELECT key FROM responses")]
        conn.close()
        batches: dict[int, int] = {}
        for key in keys:
            batch = int(key[1:].split("-")[0])
            batches[batch] = batches.get(batch, 0) + 1
        assert set(batches.values()) == {20}  # each batch all or nothing
        # every batch reported written is there; beyond them at most the one whose flush
        # finished just before the kill (not reported yet); the batch being buffered is lost
        assert set(range(flushed + 1)) <= set(batches) <= set(range(flushed + 2))
        assert reopened.get(f"b{flushed}-19") is not None
        reopened.put_buffered("after", response("after"))  # still writable
        reopened.flush()
        assert "after" in rows_on_disk(path)
