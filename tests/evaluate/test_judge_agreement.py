"""Judges checked against people: agreement of judge verdicts with human review labels, the
position bias of pairwise judges, and the "Judge vs people" report section."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from synthpipe.evaluate.judge_agreement import (
    JudgeStep,
    cohen_kappa,
    confusion_matrix,
    judge_agreement,
    kappa_reading,
    position_bias,
    wilson_interval,
)
from synthpipe.report.judge_section import judge_section
from synthpipe.run.reviews import latest_verdicts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

SCORE = JudgeStep.from_config("score", "judge_score", {"min_score": 5})
_clock = iter(range(10**6))


def review(rid: str, verdict: str, reviewer: str = "ana", edit: dict | None = None) -> dict:
    return {"reviewer": reviewer, "time": f"2026-01-01T00:00:{next(_clock):06d}Z", "record_id": rid,
            "status": "kept", "verdict": verdict, "edit": edit, "note": None, "queue": "random"}  # fmt: skip


def scored(pairs: list[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """Records and labels from (human verdict, judge verdict) pairs; the judge accepts at >= 5."""
    records = [{"id": f"r{i}", "judge_score": 8.0 if judge == "accept" else 2.0} for i, (_, judge) in enumerate(pairs)]
    labels = [review(f"r{i}", human) for i, (human, _) in enumerate(pairs)]
    return records, labels


def pointwise(pairs: list[tuple[str, str]]) -> dict:
    records, labels = scored(pairs)
    return judge_agreement([SCORE], records, latest_verdicts(labels))["judges"][0]["agreement"]


def test_perfect_agreement_gives_kappa_one() -> None:
    block = pointwise([("accept", "accept")] * 15 + [("reject", "reject")] * 10)
    assert block["accuracy"] == 1.0 and block["kappa"] == 1.0 and block["kappa_reading"] == "almost perfect"
    assert block["confusion"] == [[15, 0], [0, 10]] and block["n"] == 25 and not block["too_few"]


def test_chance_level_gives_kappa_near_zero() -> None:
    balanced = pointwise([("accept", "accept"), ("accept", "reject"), ("reject", "accept"), ("reject", "reject")] * 10)
    assert balanced["accuracy"] == 0.5 and balanced["kappa"] == 0.0 and balanced["kappa_reading"] == "slight"
    rng = random.Random(0)  # a judge that flips coins, independent of the people
    block = pointwise([(rng.choice(["accept", "reject"]), rng.choice(["accept", "reject"])) for _ in range(2000)])
    assert abs(block["kappa"]) < 0.05


def test_known_confusion_matrix_kappa_and_interval() -> None:
    pairs = [("accept", "accept")] * 12 + [("accept", "reject")] * 3 + [("reject", "accept")] * 5
    block = pointwise(pairs + [("reject", "reject")] * 10)
    # rows: people (accept, reject); columns: the judge
    assert block["confusion"] == [[12, 3], [5, 10]] and block["n"] == 30
    assert block["accuracy"] == round(22 / 30, 4)
    # p_o = 22/30, p_e = 0.5 * 17/30 + 0.5 * 13/30 = 0.5, kappa = (22/30 - 0.5) / 0.5
    assert block["kappa"] == round((22 / 30 - 0.5) / 0.5, 4) and block["kappa_reading"] == "moderate"
    assert block["interval"]["method"] == "wilson"
    assert (block["interval"]["low"], block["interval"]["high"]) == (0.5555, 0.8582)  # Wilson (1927) at z = 1.96


def test_kappa_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    for _ in range(5):
        people = [rng.choice("abc") for _ in range(60)]
        judge = [p if rng.random() < 0.6 else rng.choice("abc") for p in people]
        matrix = confusion_matrix(people, judge, "abc")
        assert cohen_kappa(matrix) == pytest.approx(metrics.cohen_kappa_score(people, judge))


def test_small_helpers() -> None:
    assert cohen_kappa([[5, 0], [0, 0]]) is None  # one label only: chance agreement is 1
    assert [kappa_reading(k) for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9)] == [
        "poor", "slight", "fair", "moderate", "substantial", "almost perfect"]  # fmt: skip
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0 < high < 0.35  # never a [0, 0] interval for 0 of 10
    assert wilson_interval(0, 0) is None


def test_threshold_comes_from_min_score_else_argument_else_mid_scale() -> None:
    assert (SCORE.threshold, SCORE.threshold_from) == (5.0, "min_score")
    assert JudgeStep.from_config("s", "judge_score", {"scale": 10}).threshold == 5.5
    assert JudgeStep.from_config("s", "judge_score", {"scale": 5}, threshold=4).threshold_from == "argument"
    records = [{"id": "r0", "judge_score": 5.0}, {"id": "r1", "judge_score": 6.0}]
    labels = latest_verdicts([review("r0", "reject"), review("r1", "accept")])
    judge = JudgeStep.from_config("s", "judge_score", {"scale": 10})  # 5 < 5.5 <= 6
    assert judge_agreement([judge], records, labels)["judges"][0]["agreement"]["accuracy"] == 1.0
    # two judges of one kind write the same fields: the records carry the later one's verdict
    both = judge_agreement([SCORE, judge], records, labels)
    assert [j["step"] for j in both["judges"]] == ["s"] and both["shadowed"] == ["score"]


def test_majority_of_reviewers_with_ties_excluded() -> None:
    records = [{"id": r, "judge_score": 8.0} for r in ("r1", "r2", "r3", "r4")]
    labels = [
        review("r1", "accept", "ana"), review("r1", "accept", "bo"), review("r1", "reject", "cy"),  # majority accept
        review("r2", "accept", "ana"), review("r2", "reject", "bo"),  # tie: left out
        review("r3", "accept", "ana"), review("r3", "reject", "ana"),  # ana changed her mind: reject
        review("r4", "skip", "ana"),  # no label
    ]  # fmt: skip
    out = judge_agreement([SCORE], records, latest_verdicts(labels))
    assert out["labels"]["ties_excluded"] == 1 and out["labels"]["accept_reject"] == 2
    assert out["labels"]["reviewers"] == 3 and out["labels"]["records"] == 4
    block = out["judges"][0]["agreement"]
    assert block["n"] == 2 and block["confusion"] == [[1, 0], [1, 0]]  # r1 agreed, r3 did not


def test_position_bias_from_both_orders() -> None:
    records = [
        {"id": "1", "judge_verdicts": ["a", "a"]},  # consistent
        {"id": "2", "judge_verdicts": ["a", "b"]},  # the first slot both times
        {"id": "3", "judge_verdicts": ["b", "a"]},  # the second slot both times
        {"id": "4", "judge_verdicts": ["a", "tie"]},  # changed with the order
        {"id": "5", "judge_verdicts": ["b", "b"]},
        {"id": "6"},  # not judged
    ]
    bias = position_bias(records)
    assert (bias["pairs"], bias["flipped"], bias["position_bias_rate"]) == (5, 3, 0.6)
    assert bias["first_position_rate"] == 0.2 and bias["second_position_rate"] == 0.2


def test_pairwise_preference_and_keep_drop() -> None:
    judge = JudgeStep.from_config("compare", "judge_pairwise", {"inconsistent": "drop"})
    records = [
        {"id": "1", "judge_verdicts": ["a", "a"]},
        # a reviewer's edit replaced winner; the judge's own side is read from both orders
        {"id": "2", "judge_verdicts": ["b", "b"], "winner": "a", "_lineage": {"human_edit": {"winner": {"old": "b"}}}},
        {"id": "3", "judge_verdicts": ["a", "b"], "_drop": {"step": "compare", "reason": "inconsistent_judgement"}},
    ]  # fmt: skip
    labels = [review("1", "accept", edit={"winner": "a"}), review("2", "accept", edit={"winner": "a"}),
              review("3", "reject")]  # fmt: skip
    row = judge_agreement([judge], records, latest_verdicts(labels))["judges"][0]
    assert row["preference"]["confusion"] == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]  # people a: judge a, judge b
    assert row["preference"]["unjudged"] == 0 and row["preference"]["n"] == 2
    assert row["agreement"]["accuracy"] == 1.0  # kept 1, 2 (accepted); dropped 3 (rejected)
    assert row["position_bias"]["position_bias_rate"] == round(1 / 3, 4)


def test_report_section_and_too_few_labels_note() -> None:
    records, labels = scored([("accept", "accept")] * 6 + [("reject", "accept")] * 2)
    few = judge_agreement([SCORE], records, latest_verdicts(labels))
    section = judge_section(few)
    assert section.title == "Judge vs people" and section.collapsed is None
    assert "Too few labels to trust" in section.body and "75.0%" in section.body
    assert "<td>people: reject</td>" in section.body
    records, labels = scored([("accept", "accept")] * 15 + [("reject", "reject")] * 10)
    enough = judge_section(judge_agreement([SCORE], records, latest_verdicts(labels)))
    assert "Too few" not in enough.body and "almost perfect agreement" in enough.body


def test_run_with_judge_and_reviews_reports_agreement(tmp_path: Path) -> None:
    from llm_server import ScriptedOpenAIServer

    from synthpipe import Pipeline
    from synthpipe.generate.llm_judge import DEFAULT_RUBRIC, PointwiseJudge
    from synthpipe.llm.config import LLMConfig
    from synthpipe.pipeline.sources import FromRecords

    def responder(body: dict) -> str:
        text = next(m["content"] for m in body["messages"] if m["role"] == "user")
        score = 8 if "good" in text.split("[Response]")[-1] else 2
        criteria = {k: {"rationale": "ok", "score": score} for k in DEFAULT_RUBRIC}
        return json.dumps({"criteria": criteria, "overall_rationale": "ok", "overall_score": score})

    records = [{"id": f"r{i}", "instruction": f"Q{i}", "response": "a good answer" if i % 2 else "poor"}
               for i in range(6)]  # fmt: skip
    with ScriptedOpenAIServer(responder=responder) as server:
        llm = LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)

        def run() -> dict:
            steps = {"records": FromRecords(records=records), "score": PointwiseJudge(min_score=5)}
            pipe = Pipeline("judged", steps, llms={"default": llm}, llm_cache=str(tmp_path / "cache.sqlite"))
            return pipe.run(tmp_path / "run").metrics

        assert "judge_agreement" not in run()
        # people agree on r0..r3, disagree on r4 (judge rejects, person accepts) and r5
        people = {"r0": "reject", "r1": "accept", "r2": "reject", "r3": "accept", "r4": "accept", "r5": "reject"}
        lines = [json.dumps(review(rid, verdict, "ana")) + "\n" for rid, verdict in people.items()]
        (tmp_path / "run" / "reviews.jsonl").write_text("".join(lines), encoding="utf-8")
        metrics = run()
    block = metrics["judge_agreement"]["judges"][0]
    assert block["step"] == "score" and block["threshold_from"] == "min_score"
    assert block["agreement"]["confusion"] == [[2, 1], [1, 2]] and block["agreement"]["too_few"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert saved["judge_agreement"] == metrics["judge_agreement"]
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert 'id="judge-agreement"' in page and "Judge vs people" in page and "Too few labels to trust" in page
    # the command computes it again from the finished run directory, without running anything
    from typer.testing import CliRunner

    from synthpipe.cli import app

    shown = CliRunner().invoke(app, ["judge-agreement", str(tmp_path / "run"), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output) == metrics["judge_agreement"]
    table = CliRunner().invoke(app, ["judge-agreement", str(tmp_path / "run")]).output
    assert "0.33" in table and "(fair)" in table and "(too few)" in table
