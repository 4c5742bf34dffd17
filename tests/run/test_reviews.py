"""Human review labels: the append-only file, which label wins, how a rerun applies them, and
the agreement between reviewers."""

from __future__ import annotations

import json
import os

import pytest

from synthpipe import Pipeline
from synthpipe.curate.text_filters import TextFilter
from synthpipe.errors import DataError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.run import reviews as rv
from synthpipe.run.reviews import (
    agreement,
    append_review,
    cohen_kappa,
    fleiss_kappa,
    latest_verdicts,
    make_review,
    read_reviews,
)

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn daily", "no", "fish swim in the sea"]


def _label(record_id, verdict, reviewer="ann", time="2026-01-01T00:00:00+00:00", **kw) -> dict:
    return {"reviewer": reviewer, "time": time, "record_id": record_id, "status": kw.pop("status", "kept"),
            "verdict": verdict, "edit": kw.pop("edit", None), "note": kw.pop("note", None), "queue": "random"}


def _pipeline() -> Pipeline:
    records = [{"id": f"r{i}", "text": t, "label": "x"} for i, t in enumerate(TEXTS)]
    return Pipeline("rev", {"source": FromRecords(records=records), "filter": TextFilter(min_words=3)})


def test_labels_append_one_fsynced_line_each(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(rv.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    append_review(tmp_path, make_review("r1", "accept", reviewer="ann", status="kept"))
    append_review(tmp_path, make_review("r1", "reject", reviewer="ann", status="kept", note="wrong"))
    lines = (tmp_path / "reviews.jsonl").read_text().splitlines()
    assert [json.loads(x)["verdict"] for x in lines] == ["accept", "reject"]
    assert len(synced) >= 2  # each label (plus the directory once, for the new file)
    assert set(json.loads(lines[0])) == {"reviewer", "time", "record_id", "status", "verdict", "edit", "note", "queue"}


def test_the_latest_label_of_a_reviewer_wins(tmp_path):
    for review in [_label("r1", "accept"), _label("r1", "reject", time="2026-01-02T00:00:00+00:00"),
                   _label("r1", "accept", reviewer="bob")]:
        append_review(tmp_path, review)
    latest = latest_verdicts(read_reviews(tmp_path))
    assert {who: r["verdict"] for who, r in latest["r1"].items()} == {"ann": "reject", "bob": "accept"}


def test_a_malformed_line_is_named(tmp_path):
    append_review(tmp_path, _label("r1", "accept"))
    with (tmp_path / "reviews.jsonl").open("a") as fh:
        fh.write("{not json\n")
    append_review(tmp_path, _label("r2", "accept"))
    with pytest.raises(DataError, match="line 2 is not JSON"):
        read_reviews(tmp_path)
    (tmp_path / "reviews.jsonl").write_text(json.dumps(_label("r1", "maybe")) + "\n")
    with pytest.raises(DataError, match="line 1: verdict must be"):
        read_reviews(tmp_path)


def test_a_torn_last_line_from_a_crash_is_ignored(tmp_path):
    append_review(tmp_path, _label("r1", "reject"))
    with (tmp_path / "reviews.jsonl").open("a") as fh:
        fh.write('{"reviewer": "ann", "ti')
    assert [r["verdict"] for r in read_reviews(tmp_path)] == ["reject"]


def test_a_rerun_applies_rejects_and_edits(tmp_path):
    out = tmp_path / "run"
    first = _pipeline().run(out=out)
    assert {r["id"] for r in first.kept} == {"r0", "r1", "r2", "r4"}
    append_review(out, _label("r0", "reject", note="off topic"))
    append_review(out, _label("r0", "accept", reviewer="bob"))  # reject wins
    append_review(out, _label("r1", "accept", edit={"text": "a dog ran in the big park", "id": "hack"}))
    append_review(out, _label("r3", "accept", status="dropped"))  # does not resurrect
    second = _pipeline().run(out=out)
    kept = {r["id"]: r for r in second.kept}
    assert set(kept) == {"r1", "r2", "r4"}
    assert kept["r1"]["text"] == "a dog ran in the big park"
    edit = kept["r1"]["_lineage"]["human_edit"]["text"]
    assert edit["old"] == "a dog ran in the park" and edit["reviewer"] == "ann" and edit["time"]
    dropped = {r["id"]: r["_drop"] for r in second.dropped}
    assert dropped["r0"]["reason"] == "human_rejected" and dropped["r0"]["step"] == "human_review"
    assert dropped["r0"]["detail"]["reviewer"] == "ann" and dropped["r0"]["detail"]["note"] == "off topic"
    assert dropped["r3"]["reason"] != "human_rejected"
    assert len(second.kept) + len(second.dropped) == len(TEXTS)  # nothing lost
    steps = {s["name"]: s for s in second.metrics["steps"]}
    assert steps["filter"]["reused"] and not steps["human_review"]["reused"]
    reviews = second.metrics["reviews"]
    assert reviews["applied"] == {"human_rejected": 1, "edit_labels": 1}
    assert reviews["agreement"]["kappa_kind"] == "cohen"
    assert json.loads((out / "metrics.json").read_text())["reviews"]["labels"] == 4
    assert "Human review" in (out / "report.html").read_text()


def test_agreement_on_a_hand_made_case():
    a = ["accept", "accept", "reject", "reject", "accept", "accept", "reject", "accept"]
    b = ["accept", "reject", "reject", "reject", "accept", "accept", "accept", "accept"]
    # p_o = 6/8; p_e = (5*5 + 3*3) / 64 = 34/64; kappa = (48/64 - 34/64) / (30/64) = 14/30
    assert cohen_kappa(a, b) == pytest.approx(14 / 30, abs=1e-4)
    sklearn = pytest.importorskip("sklearn.metrics")
    assert cohen_kappa(a, b) == pytest.approx(sklearn.cohen_kappa_score(a, b), abs=1e-4)
    labels = [_label(f"r{i}", x, "ann") for i, x in enumerate(a)] + [_label(f"r{i}", y, "bob") for i, y in enumerate(b)]
    result = agreement(labels + [_label("solo", "reject", "ann")])
    assert result["shared_records"] == 8 and result["raw_agreement"] == 0.75
    assert result["kappa"] == pytest.approx(14 / 30, abs=1e-4)


def test_fleiss_kappa_for_three_reviewers():
    # Fleiss 1971's form: 4 items, 3 raters; per-item agreement P_i = (sum n^2 - m) / (m(m-1))
    rows = [["accept"] * 3, ["reject"] * 3, ["accept", "accept", "reject"], ["accept", "reject", "reject"]]
    p_bar = (1 + 1 + 1 / 3 + 1 / 3) / 4
    p_e = 0.5**2 + 0.5**2
    assert fleiss_kappa(rows) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-4)
    labels = [_label(f"r{i}", v, who) for i, row in enumerate(rows) for v, who in zip(row, ["a", "b", "c"], strict=True)]
    assert agreement(labels)["kappa_kind"] == "fleiss"
