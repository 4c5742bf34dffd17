"""The review app: a token-guarded local server whose page labels records with the keyboard,
and whose labels land in reviews.jsonl where every browser sees them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from synthpipe import Pipeline
from synthpipe.curate.text_filters import TextFilter
from synthpipe.pipeline.sources import FromRecords
from synthpipe.report.browser import check_url, find_chromium
from synthpipe.run.review_app import ReviewServer, ReviewSettings
from synthpipe.run.review_queues import build_queue
from synthpipe.run.reviews import read_reviews

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never via a proxy


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    texts = ["the cat sat on the mat", "a dog ran in the park", "no", "fish swim in the sea", "birds sing at dawn"]
    records = [{"id": f"r{i}", "text": t, "label": "ab"[i % 2], "judge_score": 5 - i} for i, t in enumerate(texts)]
    out = tmp_path_factory.mktemp("review") / "run"
    Pipeline("rev", {"source": FromRecords(records=records), "filter": TextFilter(min_words=3)}).run(out=out)
    return out


@pytest.fixture
def server(run_dir):
    (run_dir / "reviews.jsonl").unlink(missing_ok=True)
    srv = ReviewServer(ReviewSettings(run_dir, reviewer="alice"))
    yield srv
    srv.close()


def _get(url: str, headers: dict | None = None, data: dict | None = None) -> tuple[int, str]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with OPENER.open(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_it_listens_on_localhost_and_every_request_needs_the_token(server):
    assert server.host == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    base = server.url.split("?")[0]
    assert _get(base)[0] == 403
    assert _get(base + "?token=wrong")[0] == 403
    assert _get(base + "api/queue")[0] == 403
    assert _get(base + "api/label", data={"record_id": "r0", "verdict": "reject"})[0] == 403
    status, page = _get(server.url)
    assert status == 200 and "<kbd>a</kbd> accept" in page
    status, body = _get(base + "api/queue", {"X-Review-Token": server.settings.token})
    items = json.loads(body)["items"]
    assert status == 200 and {i["status"] for i in items} == {"kept", "dropped"} and len(items) == 5


def test_a_posted_label_appends_one_line(server):
    base, token = server.url.split("?")[0], {"X-Review-Token": server.settings.token}
    status, body = _get(base + "api/label", token, {"record_id": "r2", "verdict": "reject", "note": "too short"})
    assert status == 200 and json.loads(body)["labels"][0]["verdict"] == "reject"
    (label,) = read_reviews(server.settings.run_dir)
    assert label["record_id"] == "r2" and label["status"] == "dropped" and label["reviewer"] == "alice"
    assert label["note"] == "too short" and label["queue"] == "random"
    assert _get(base + "api/label", token, {"record_id": "r0", "verdict": "maybe"})[0] == 400
    assert len(read_reviews(server.settings.run_dir)) == 1


def test_queues_order_and_pick_records():
    items = [("kept", {"id": "a", "judge_score": 3, "label": "x"}), ("kept", {"id": "b", "judge_score": 1, "label": "x"}),
             ("dropped", {"id": "c", "label": "y", "_drop": {"detail": {"value": 0.49, "threshold": 0.5}}}),
             ("kept", {"id": "d", "judge_verdicts": ["a", "b"], "label": "x"})]  # fmt: skip
    ids = lambda q, **kw: [r["id"] for _, r in build_queue(items, q, **kw)]  # noqa: E731
    assert ids("lowest_score") == ["b", "a"]
    assert ids("judge_disagreement") == ["d"]
    assert ids("near_threshold", threshold=2.9) == ["c", "a"]
    assert ids("per_label") == ["a", "c", "b", "d"]  # round-robin: x, y, x, x
    assert sorted(ids("random", seed=1)) == ["a", "b", "c", "d"] and ids("random", seed=1) == ids("random", seed=1)


@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_label_with_keys_then_a_second_browser_sees_the_labels(server):
    press = "document.dispatchEvent(new KeyboardEvent('keydown', {key: '%s', bubbles: true}))"
    keys = ";".join(press % k for k in "ajr")
    first = check_url(server.url, probes={
        "ready": "window.reviewReady",
        "first": "window.reviewState().id",
        "keys": f"{keys}; window.reviewIdle().then(() => window.reviewState().id)",
        "shown": "document.getElementById('labels').textContent",
    })  # fmt: skip
    assert not first.console_errors, first.console_errors
    labelled = [(r["record_id"], r["verdict"], r["reviewer"]) for r in read_reviews(server.settings.run_dir)]
    assert labelled == [(first.details["first"], "accept", "alice"), (first.details["keys"], "reject", "alice")]
    assert "alice: reject" in first.details["shown"]
    # a new browser (fresh profile, fresh load): it opens at the first record alice has not
    # labelled, and going back shows the labels saved by the first session
    second = check_url(server.url, probes={
        "ready": "window.reviewReady",
        "at": "window.reviewState().pos",
        "back": f"{press % 'k'}; document.getElementById('labels').textContent",
        "back2": f"{press % 'k'}; document.getElementById('labels').textContent",
    })  # fmt: skip
    assert not second.console_errors, second.console_errors
    assert second.details["at"] == 2
    assert "alice: reject" in second.details["back"] and "alice: accept" in second.details["back2"]
