"""A cache write that fails (disk full) loses no paid reply: the run warns once, goes on, and
the next run does not pay again for replies it received (issue 13, item 7)."""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe import Pipeline
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatResponse, Usage
from synthpipe.pipeline.sources import FromRecords

N = 30


class _FullDisk:
    """A connection whose writes fail with ENOSPC while `state["full"]` holds."""

    def __init__(self, conn: sqlite3.Connection, state: dict):
        self._conn, self._state = conn, state

    def _check(self, sql: str) -> None:
        if self._state["full"] and sql.lstrip().upper().startswith(("INSERT", "BEGIN")):
            self._state["refused"] += 1
            raise OSError(errno.ENOSPC, "No space left on device")

    def execute(self, sql: str, *args):
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args):
        self._check(sql)
        return self._conn.executemany(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


@pytest.fixture
def disk(monkeypatch):
    """`disk["full"] = True` makes every cache write fail; `disk["refused"]` counts them."""
    state = {"full": False, "refused": 0}
    run = ResponseCache._run
    monkeypatch.setattr(ResponseCache, "_run", lambda self, fn: run(self, lambda c: fn(_FullDisk(c, state))))
    return state


def pipeline(server, tmp_path, on_reply=None) -> Pipeline:
    def prompt_seen(body):
        if on_reply is not None:
            on_reply()
        return f"answer {len(server.requests)}"

    server.responder = prompt_seen
    return Pipeline(
        "cache-full",
        {
            "questions": FromRecords(records=[{"id": f"q{i:02d}", "question": f"q {i}"} for i in range(N)]),
            "answer": TextGeneration(prompt="Answer: {{ question }}", output_field="answer"),
        },
        llms={"default": LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)},
        llm_cache=str(tmp_path / "cache.sqlite"),
        batch_size=5,
    )


def test_a_full_cache_disk_for_part_of_the_run_costs_nothing_next_time(tmp_path, disk, caplog):
    with ScriptedOpenAIServer() as server:

        def fill_then_free():
            # The disk is full from the 5th request until the 20th, and stays full until it has
            # refused a write: replies are written per batch, and the first batch may end late.
            n = len(server.requests)
            disk["full"] = n >= 5 and not (n >= 20 and disk["refused"])

        with caplog.at_level(logging.WARNING, logger="synthpipe"):
            first = pipeline(server, tmp_path, fill_then_free).run(tmp_path / "run")
        assert len(first.kept) == N and not first.dropped
        assert disk["refused"] > 0 and len(server.requests) == N
        warnings = [r for r in caplog.records if "cannot write to the LLM response cache" in r.getMessage()]
        assert len(warnings) == 1 and "No space left on device" in warnings[0].getMessage()
        assert first.metrics["llm"]["cache"]["unsaved"] == 0  # written once the disk had room again

        server.reset_counters()
        again = pipeline(server, tmp_path).run(tmp_path / "fresh")  # a fresh run, not a resume
        assert server.requests == []
        assert [r["answer"] for r in again.kept] == [r["answer"] for r in first.kept]


def test_a_disk_full_all_run_long_loses_no_record_and_a_resume_pays_nothing(tmp_path, disk, caplog):
    disk["full"] = True
    with ScriptedOpenAIServer() as server:
        with caplog.at_level(logging.WARNING, logger="synthpipe"):
            first = pipeline(server, tmp_path).run(tmp_path / "run")
        assert len(first.kept) == N and len(server.requests) == N
        assert "30 LLM replies could not be written" in caplog.text  # said at close, with the count
        disk["full"] = False
        server.reset_counters()
        pipeline(server, tmp_path).run(tmp_path / "run")  # the same directory: records are checkpointed
        assert server.requests == []


def response(text: str) -> ChatResponse:
    return ChatResponse([text * 2000], ["stop"], Usage(1, 1), "m")


def test_sqlite_full_holds_replies_in_memory_and_writes_them_later(tmp_path: Path, caplog):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put("first", response("a"))
        pages = cache._run(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        cache._run(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))  # a real SQLITE_FULL
        with caplog.at_level(logging.WARNING, logger="synthpipe"):
            cache.put("second", response("b"))
            cache.put("third", response("c"))
        assert caplog.text.count("cannot write to the LLM response cache") == 1
        assert "full" in caplog.text
        assert cache.unsaved == 2 and cache.stats()["entries"] == 1
        assert cache.get("second").texts == response("b").texts  # served from memory
        assert set(cache.get_many(["first", "second", "third"])) == {"first", "second", "third"}

        cache._run(lambda c: c.execute("PRAGMA max_page_count = 1000000"))  # space freed
        cache.put("fourth", response("d"))
        assert cache.unsaved == 0 and cache.stats()["entries"] == 4


def test_close_writes_what_was_held(tmp_path: Path, disk):
    disk["full"] = True
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k", response("x"))
    assert cache.unsaved == 1
    disk["full"] = False
    cache.close()
    with ResponseCache(tmp_path / "c.sqlite") as again:
        assert again.get("k").texts == response("x").texts
