"""The response cache: stable keys, first writer wins, many processes, SIGKILL, pickling."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from synthpipe.llm.cache import ResponseCache, default_cache_path
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatRequest, ChatResponse, SamplingParams, Usage

IDENTITY = {"backend": "openai", "model": "m"}
MESSAGES = [{"role": "user", "content": "Say hi"}]


def response(text: str = "hi", model: str = "m") -> ChatResponse:
    return ChatResponse(texts=[text], finish_reasons=["stop"], usage=Usage(3, 1), model=model)


@pytest.fixture
def cache(tmp_path: Path):
    with ResponseCache(tmp_path / "sub" / "cache.sqlite") as c:
        yield c


# ---- keys ---------------------------------------------------------------------------


def test_key_is_stable_and_hex() -> None:
    a = ResponseCache.key(IDENTITY, ChatRequest(messages=[dict(m) for m in MESSAGES]))
    b = ResponseCache.key(dict(reversed(IDENTITY.items())), ChatRequest(messages=MESSAGES))
    assert a == b
    assert len(a) == 64 and int(a, 16) >= 0


@pytest.mark.parametrize(
    "identity, request_, sample",
    [
        ({"backend": "openai", "model": "other"}, ChatRequest(MESSAGES), 0),
        ({"backend": "vllm", "model": "m"}, ChatRequest(MESSAGES), 0),
        (IDENTITY, ChatRequest([{"role": "user", "content": "Say bye"}]), 0),
        (IDENTITY, ChatRequest(MESSAGES, params=SamplingParams(temperature=0.1)), 0),
        (IDENTITY, ChatRequest(MESSAGES, params=SamplingParams(top_p=0.5)), 0),
        (IDENTITY, ChatRequest(MESSAGES, params=SamplingParams(max_tokens=7)), 0),
        (IDENTITY, ChatRequest(MESSAGES, params=SamplingParams(stop=("\n",))), 0),
        (IDENTITY, ChatRequest(MESSAGES, params=SamplingParams(seed=1)), 0),
        (IDENTITY, ChatRequest(MESSAGES, n=2), 0),
        (IDENTITY, ChatRequest(MESSAGES, response_format={"type": "json_object"}), 0),
        (IDENTITY, ChatRequest(MESSAGES), 1),
    ],
)
def test_every_field_changes_the_key(identity: dict, request_: ChatRequest, sample: int) -> None:
    base = ResponseCache.key(IDENTITY, ChatRequest(MESSAGES))
    assert ResponseCache.key(identity, request_, sample) != base


def test_base_url_and_api_key_are_not_in_the_key() -> None:
    local = LLMConfig(model="m", base_url="http://localhost:8000/v1", api_key_env="A")
    remote = LLMConfig(model="m", base_url="https://api.example.com/v1", api_key_env="B")
    request = ChatRequest(MESSAGES)
    assert ResponseCache.key(local.identity(), request) == ResponseCache.key(
        remote.identity(), request
    )


# ---- reads and writes ---------------------------------------------------------------


def test_roundtrip_marks_cached(cache: ResponseCache) -> None:
    original = response("hello")
    cache.put("k", original)
    got = cache.get("k")
    assert got is not None and got.cached and not original.cached
    assert got.to_json() == original.to_json()


def test_first_writer_wins(cache: ResponseCache) -> None:
    cache.put("k", response("first"))
    cache.put("k", response("second"))
    assert cache.get("k").texts == ["first"]
    assert cache.stats()["entries"] == 1


def test_hits_and_misses(cache: ResponseCache) -> None:
    assert cache.hit_rate() is None
    assert cache.get("missing") is None
    cache.put("k", response())
    cache.get("k")
    cache.get("k")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (2, 1, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["path"] == str(cache.path)


def test_get_many_spans_chunks(cache: ResponseCache) -> None:
    cache.put_many((f"k{i}", response(str(i))) for i in range(1200))
    keys = [f"k{i}" for i in range(0, 1200, 2)] + ["nope1", "nope2"]
    keys += [f"k{i}" for i in range(1, 1200, 2)]
    found = cache.get_many(keys)
    assert len(found) == 1200
    assert all(found[f"k{i}"].texts == [str(i)] and found[f"k{i}"].cached for i in range(1200))
    assert (cache.hits, cache.misses) == (1200, 2)
    assert cache.get_many([]) == {}


def test_put_many_first_writer_wins_too(cache: ResponseCache) -> None:
    cache.put("a", response("old"))
    cache.put_many([("a", response("new")), ("b", response("b"))])
    assert cache.get("a").texts == ["old"] and cache.get("b").texts == ["b"]


def test_model_column_records_identity_model(cache: ResponseCache) -> None:
    cache.put("a", response(model="served-name"))
    cache.put("b", response(model="served-name"), model="recipe-model")
    rows = dict(sqlite3.connect(cache.path).execute("SELECT key, model FROM responses"))
    assert rows == {"a": "served-name", "b": "recipe-model"}


def test_threads_share_one_cache(cache: ResponseCache) -> None:
    def work(t: int) -> None:
        for i in range(200):
            cache.put(f"{t}-{i}", response(f"{t}-{i}"))
            assert cache.get(f"{t}-{i}").texts == [f"{t}-{i}"]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.stats()["entries"] == 1600 and cache.hits == 1600


def test_closed_cache_refuses_work(tmp_path: Path) -> None:
    c = ResponseCache(tmp_path / "c.sqlite")
    c.close()
    c.close()  # idempotent
    with pytest.raises(sqlite3.ProgrammingError):
        c.get("k")


def test_wal_mode(cache: ResponseCache) -> None:
    mode = sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_default_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNTHPIPE_CACHE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "llm_cache.sqlite"
    monkeypatch.delenv("SYNTHPIPE_CACHE_DIR")
    assert default_cache_path() == Path.home() / ".cache" / "synthpipe" / "llm_cache.sqlite"


def test_pickle_roundtrip_reopens(cache: ResponseCache) -> None:
    cache.put("k", response("kept"))
    cache.get("k")
    copy = pickle.loads(pickle.dumps(cache))
    try:
        assert copy.path == cache.path and copy.hits == 1
        assert copy.get("k").texts == ["kept"]
        copy.put("k2", response("from copy"))
        assert cache.get("k2").texts == ["from copy"]
    finally:
        copy.close()


# ---- several processes ----------------------------------------------------------------


def _write_many(cache: ResponseCache, worker: int, start) -> None:
    # `cache` arrives pickled (spawn), so this also exercises __setstate__ in a new process.
    start.wait()  # a barrier: all four write at the same moment, not one after another
    for i in range(500):
        cache.put(f"w{worker}-{i}", response(f"{worker}:{i}"))
        if i % 50 == 0:
            cache.get(f"w{(worker + 1) % 4}-{i}")  # readers and writers interleave
    cache.close()


def test_four_processes_write_at_once(cache: ResponseCache) -> None:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_write_many, args=(cache, w, start)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    keys = [f"w{w}-{i}" for w in range(4) for i in range(500)]
    found = cache.get_many(keys)
    assert len(found) == 2000
    assert all(found[f"w{w}-{i}"].texts == [f"{w}:{i}"] for w in range(4) for i in range(500))


_KILL_WRITER = textwrap.dedent(
    """
    import sys
    from synthpipe.llm.cache import ResponseCache
    from synthpipe.llm.types import ChatResponse
    cache = ResponseCache(sys.argv[1])
    i = 0
    while True:
        text = "x" * (i % 5000)  # varied sizes: pages split, the WAL grows and checkpoints
        cache.put(f"k{i}", ChatResponse(texts=[text], model="m"))
        if i % 10 == 0:
            cache.put_many((f"b{i}-{j}", ChatResponse(texts=[text], model="m")) for j in range(20))
        if i == 200:
            print("ready", flush=True)
        i += 1
    """
)


def test_sigkill_mid_write_leaves_a_sound_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # well into the write loop
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with ResponseCache(path) as reopened:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT key, response FROM responses").fetchall()
        conn.close()
        assert len(rows) > 200
        for _, text in rows:
            ChatResponse.from_json(json.loads(text))
        # each put_many batch is all-or-nothing
        batches: dict[str, int] = {}
        for key, _ in rows:
            if key.startswith("b"):
                batch = key.split("-")[0]
                batches[batch] = batches.get(batch, 0) + 1
        assert set(batches.values()) <= {20}
        assert reopened.get_many([k for k, _ in rows[:100]]).keys() == {k for k, _ in rows[:100]}
        reopened.put("after", response())  # still writable
        assert reopened.get("after") is not None
