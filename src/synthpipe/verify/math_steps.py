"""Math steps: check each record's final answer against gold, and majority-vote sampled answers.

- ``verify_math`` extracts the answer from a candidate solution (`extract_answer`) and compares
  it with the gold answer (`answers_match_many`: string, numeric, then math-verify). It is the
  outcome check used for rejection sampling / STaR-style filtering of generated solutions
  (Zelikman et al. 2022, "STaR: Bootstrapping Reasoning With Reasoning").
- ``self_consistency`` majority-votes the answers of k sampled solutions, as in Wang et al.
  2022, "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
  (arXiv:2203.11171); the vote share doubles as a confidence for label-free filtering.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pydantic import Field

from synthpipe.data.records import Batch, Record, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.verify.answers import (
    ExtractedAnswer,
    clean_answer,
    extract_answer,
    parse_number_full,
)
from synthpipe.verify.math_check import DEFAULT_TIMEOUT, answers_match_many


def _text(value: Any) -> str | None:
    """A field's value as text: strings as they are, numbers printed, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Fraction) and not isinstance(value, bool):
        return str(value)
    return None


def _field_problem(record: Record, field: str) -> str | None:
    if record.get(field) is None:
        return f"no field {field!r}"
    if _text(record[field]) is None:
        return f"field {field!r} holds {type(record[field]).__name__}, expected text or a number"
    return None


class VerifyMathConfig(StepConfig):
    candidate_field: str = Field(
        "candidate", description="field with the solution (or answer) to check; GSM8K: 'answer'"
    )
    gold_field: str = Field("final_answer", description="field with the gold answer")
    gold_is_solution: bool = Field(
        False, description="the gold field holds a worked solution: extract its answer first"
    )
    result_field: str = Field(
        "verification", description="field that receives {passed, extracted, method, ...}"
    )
    fallback_last_number: bool = Field(
        True, description="with no #### / \\boxed / 'the answer is', take the last number"
    )
    rel_tol: float = Field(1e-6, ge=0, description="relative tolerance for numeric answers")
    timeout: float = Field(
        DEFAULT_TIMEOUT, gt=0, description="seconds allowed for one symbolic (math-verify) check"
    )


@register_step("verify_math")
class VerifyMath(MapStep):
    """Keeps records whose candidate's final answer equals the gold answer.

    The answer is extracted from the candidate (`extract_answer`) and compared with the gold
    one: string, numeric, then math-verify. Records that arrive already dropped are left as
    they are.

    Input columns: `candidate_field` (default ``candidate``; GSM8K: ``answer``) and
    `gold_field` (default ``final_answer``), text or numbers.
    Output columns: `result_field` (default ``verification``) = ``{"passed", "extracted",
    "method", "extraction", "gold"}``, where ``method`` is the rule that decided (string |
    numeric | math_verify) and ``extraction`` how the answer was found (gsm8k | boxed |
    answer_phrase | last_number).
    Drop reasons: ``missing_field``, ``no_gold_answer`` (``gold_is_solution`` and no answer in
    it), ``no_answer``, ``wrong_answer`` ("expected X, got Y", plus why when math-verify could
    not decide: timeout, unparsable, not installed).
    References: Zelikman et al. (2022), "STaR: Bootstrapping Reasoning With Reasoning",
    arXiv:2203.14465 (outcome checks for filtering generated solutions).
    """

    Config = VerifyMathConfig
    verifies = True  # drops are verification failures: the audit reports its pass rate
    cpu_bound = True
    drop_reasons = ("missing_field", "no_gold_answer", "no_answer", "wrong_answer")

    def input_columns(self) -> set[str]:
        return {self.config.candidate_field, self.config.gold_field}

    def output_columns(self) -> set[str]:
        return {self.config.result_field}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg = self.config
        checks: list[tuple[Record, str, ExtractedAnswer]] = []
        for record in batch:
            if is_dropped(record):
                continue
            first, second = self._prepare(record)
            if isinstance(second, ExtractedAnswer):
                checks.append((record, first, second))
            else:  # (reason, detail)
                self._store(record, None, None, None)
                drop(record, ctx.name, first, second)
        pairs = [(gold, extracted.text) for _, gold, extracted in checks]
        results = answers_match_many(pairs, rel_tol=cfg.rel_tol, timeout=cfg.timeout)
        for (record, gold, extracted), result in zip(checks, results, strict=True):
            self._store(record, gold, extracted, result.method, passed=result.equal)
            if not result.equal:
                detail = f"expected {gold}, got {extracted.text}"
                if " != " not in result.detail:  # undecided: timeout, unparsable, no math-verify
                    detail += f" ({result.detail})"
                drop(record, ctx.name, "wrong_answer", detail)
        return batch

    def _prepare(self, record: Record) -> tuple[str, ExtractedAnswer] | tuple[str, str]:
        """(gold, extracted answer), or (reason, detail) when the record cannot be checked."""
        cfg = self.config
        for field in (cfg.candidate_field, cfg.gold_field):
            problem = _field_problem(record, field)
            if problem:
                return "missing_field", problem
        gold = _text(record[cfg.gold_field])
        if cfg.gold_is_solution:
            found = extract_answer(gold, fallback_last_number=cfg.fallback_last_number)
            if found is None:
                return "no_gold_answer", f"no final answer in gold field {cfg.gold_field!r}"
            gold = found.text
        else:
            gold = clean_answer(gold)
        extracted = extract_answer(
            _text(record[cfg.candidate_field]), fallback_last_number=cfg.fallback_last_number
        )
        if extracted is None:
            return "no_answer", f"no final answer in {cfg.candidate_field!r}"
        return gold, extracted

    def _store(self, record, gold, extracted, method, *, passed: bool = False) -> None:
        record[self.config.result_field] = {
            "passed": passed,
            "extracted": extracted.text if extracted else None,
            "method": method,
            "extraction": extracted.method if extracted else None,
            "gold": gold,
        }


class SelfConsistencyConfig(StepConfig):
    samples_field: str = Field("samples", description="field with the list of sampled solutions")
    answer_field: str = Field("final_answer", description="field that receives the voted answer")
    agreement_field: str = Field(
        "agreement", description="field that receives the winning answer's share of all samples"
    )
    votes_field: str = Field("votes", description="field that receives {answer: count}")
    min_agreement: float = Field(
        0.0, ge=0, le=1, description="drop records whose agreement is below this (low_agreement)"
    )
    fallback_last_number: bool = Field(
        True, description="with no #### / \\boxed / 'the answer is', take the last number"
    )


def _vote_key(answer: str) -> tuple[str, Any]:
    """Equal numbers vote together ("18", "18.00", "$18"); anything else by its normal form."""
    number = parse_number_full(answer)
    if number is not None:
        return ("number", number.value)
    return ("text", "".join(answer.split()))


def majority_vote(answers: list[str | None]) -> tuple[str | None, dict[str, int]]:
    """The most common answer (ties: the one seen first) and the votes per answer.

    `None` entries (samples without an answer) count as samples but vote for nothing.
    Each group of equal answers is named by the first spelling seen.
    """
    names: dict[tuple[str, Any], str] = {}
    counts: dict[tuple[str, Any], int] = {}
    for answer in answers:
        if answer is None:
            continue
        key = _vote_key(answer)
        names.setdefault(key, answer)
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None, {}
    winner = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
    return names[winner], {names[k]: n for k, n in counts.items()}


@register_step("self_consistency")
class SelfConsistency(MapStep):
    """Majority vote over k sampled solutions (Wang et al. 2022, arXiv:2203.11171).

    Each sample's answer is extracted (`extract_answer`); answers that are the same number
    vote together. The vote share doubles as a confidence for label-free filtering.

    Input columns: `samples_field` (default ``samples``), a list of solution texts.
    Output columns: `answer_field` (default ``final_answer``: the winning answer, first
    occurrence wins ties), `agreement_field` (default ``agreement``: the winner's votes /
    number of samples; samples without an answer count against it), `votes_field` (default
    ``votes``: ``{answer: count}``).
    Drop reasons: ``missing_field`` (no list), ``no_answer`` (no sample states an answer),
    ``low_agreement`` (below `min_agreement`).
    References: Wang et al. (2022), "Self-Consistency Improves Chain of Thought Reasoning in
    Language Models", arXiv:2203.11171.
    """

    Config = SelfConsistencyConfig
    drop_reasons = ("missing_field", "no_answer", "low_agreement")

    def input_columns(self) -> set[str]:
        return {self.config.samples_field}

    def output_columns(self) -> set[str]:
        cfg = self.config
        return {cfg.answer_field, cfg.agreement_field, cfg.votes_field}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg = self.config
        for record in batch:
            if is_dropped(record):
                continue
            samples = record.get(cfg.samples_field)
            if not isinstance(samples, list):
                what = "missing" if samples is None else f"a {type(samples).__name__}"
                drop(record, ctx.name, "missing_field", f"field {cfg.samples_field!r} is {what}, "
                     "expected a list of solutions")  # fmt: skip
                continue
            answers = [self._answer(sample) for sample in samples]
            winner, votes = majority_vote(answers)
            agreement = votes.get(winner, 0) / len(samples) if samples else 0.0
            record[cfg.answer_field] = winner
            record[cfg.agreement_field] = agreement
            record[cfg.votes_field] = votes
            if winner is None:
                drop(
                    record,
                    ctx.name,
                    "no_answer",
                    f"none of {len(samples)} samples states an answer",
                )
            elif agreement < cfg.min_agreement:
                drop(record, ctx.name, "low_agreement",
                     f"{agreement:.2f} < {cfg.min_agreement} ({votes[winner]}/{len(samples)} "
                     f"for {winner})")  # fmt: skip
        return batch

    def _answer(self, sample: Any) -> str | None:
        text = _text(sample)
        if text is None:
            return None
        found = extract_answer(text, fallback_last_number=self.config.fallback_last_number)
        return found.text if found else None
