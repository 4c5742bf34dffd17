"""What `synthpipe filter` runs: a data profile chosen from the fields, or an explicit chain.

Without ``--filters`` the command runs one ``quality_filter`` step with a profile
(:mod:`synthpipe.curate.profiles`): the one named by ``--profile``, else the one the first
records' fields suggest (:func:`synthpipe.curate.profiles.detect_profile`). Fields given on the
command line win over detected ones; ``--text-field`` is the text of the text/web profiles and
the response of the others. Records whose fields fit no profile are a usage error that lists
their fields, never a run that quarantines everything.

With ``--filters`` the named filters run in order as before profiles (``text_field`` defaults
to ``text``); the instruction field of ``llm_output`` is then taken from ``--instruction-field``
or detected among the record's fields (``instruction``, ``prompt``, ``question``...), never
silently left unset. Either way :attr:`FilterPlan.summary` says what was chosen and why, for
the terminal and ``summary.json``.

``--judge-model`` adds an LLM judge after the rules (:func:`add_judge`): the ``judge_score``
step (:mod:`synthpipe.generate.llm_judge`) with a rubric for what rules cannot see (wrong
answers, nonsensical instructions, answers invented from content the model never had); records
scoring below ``--judge-min-score`` drop with ``low_judge_score`` and keep the judge's
rationale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthpipe.curate.profiles import (
    INSTRUCTION_NAMES,
    PROFILES,
    Detected,
    detect_profile,
    get_profile,
)
from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_records
from synthpipe.errors import UsageError
from synthpipe.pipeline.step import Step

SAMPLE_ROWS = 200
LEGACY_FILTERS = {"text": "text_filter", "repetition": "repetition_filter", "symbol": "symbol_filter",
                  "llm_output": "llm_output_filter", "language": "language_filter"}  # fmt: skip
StepBuilder = Callable[[str, dict, dict, tuple[str, ...]], Step]


@dataclass
class FilterPlan:
    """The steps to run, the field the reader requires, and what was chosen."""

    steps: dict[str, Step]
    text_field: str
    require_text: bool
    summary: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the terminal: the profile (or chain), why, and the fields."""
        s = self.summary
        fields = ", ".join(f"{role}={name}" for role, name in s["fields"].items())
        return f"profile: {s['profile']} ({s['chosen']}); fields: {fields}"


def sample_records(source: Path, rows: int = SAMPLE_ROWS) -> list[dict]:
    """The first `rows` well-formed records of `source` (malformed ones are skipped here)."""
    records: list[dict] = []
    for batch in read_records(source, quarantine=Quarantine(), batch_size=rows, limit=rows, id_field=None):
        records.extend(batch)
    return records


def plan_profile(records: list[Mapping[str, Any]], profile: str | None, given: Mapping[str, str | None],
                 languages: list[str] | None, build: StepBuilder, overrides: dict) -> FilterPlan:  # fmt: skip
    """A ``quality_filter`` step for `profile` (None: detected from `records`)."""
    detected = detect_profile(records)
    if profile is None:
        profile, chosen = _auto(detected, given, records)
    else:
        get_profile(profile)
        chosen = "given"
    fields = _fields(profile, detected, given)
    config = {f"{role}_field": name for role, name in fields.items()} | {"profile": profile, "languages": languages}
    step = build("quality_filter", config, overrides, ())
    fields = dict(step.fields)
    primary = fields.get("text") or fields.get("response") or fields.get("messages")
    summary = {"profile": profile, "chosen": chosen, "fields": fields, "stages": step.describe()["stages"]}
    return FilterPlan({"filter": step}, primary, require_text=profile != "chat", summary=summary)


def _auto(detected: Detected | None, given: Mapping[str, str | None], records: list) -> tuple[str, str]:
    if detected is not None:
        return detected.profile, f"auto-detected: {detected.reason}"
    if given.get("text") or given.get("response"):
        return "text", "no profile fits the fields; the text field given"
    if not records:  # nothing readable up front: the run quarantines and reports each record
        return "text", f"no readable record in the first {SAMPLE_ROWS}"
    names = sorted({k for r in records for k in r if not k.startswith("_") and k != "id"})
    raise UsageError(
        f"cannot tell what to filter: the records have fields {', '.join(names) or '(none)'}; "
        f"pass --profile ({', '.join(PROFILES)}) and --text-field, or --instruction-field/--response-field"
    )


def _fields(profile: str, detected: Detected | None, given: Mapping[str, str | None]) -> dict[str, str]:
    """Detected fields (when they fit the profile), then the given ones; --text-field is the
    response of a pair profile."""
    roles = get_profile(profile).fields
    fields = {r: n for r, n in (detected.fields if detected else {}).items() if r in roles or r == "input"}
    if "text" in roles and "text" not in fields and detected and "instruction" in detected.fields:
        fields["text"] = detected.fields.get("response") or detected.fields["instruction"]
    if "response" in roles and given.get("text") and not given.get("response"):
        given = {**given, "response": given["text"]}
    fields.update({role: name for role, name in given.items() if name and (role in roles or role == "input")})
    return fields


def plan_chain(records: list[Mapping[str, Any]], names: list[str], text_fields: list[str] | None,
               instruction_field: str | None, response_field: str | None, languages: list[str] | None,
               build: StepBuilder, overrides_for: Callable[[str], dict]) -> FilterPlan:  # fmt: skip
    """The filters `names`, in order, with the fields of the command line (before profiles)."""
    fields = text_fields or ["text"]
    response = response_field or fields[0]
    chosen = "given"
    if instruction_field is None and "llm_output" in names:
        instruction_field, chosen = _detect_instruction(records, {response, *fields})
    common = {"text_field": fields[0] if len(fields) == 1 else fields, "instruction_field": instruction_field,
              "response_field": response, "languages": languages}  # fmt: skip
    steps: dict[str, Step] = {}
    for name in names:
        if name not in LEGACY_FILTERS:
            from synthpipe.pipeline.registry import suggest

            raise UsageError(f"unknown filter {name!r}{suggest(name, LEGACY_FILTERS)}")
        nullable = ("instruction_field",) if name == "llm_output" else ()
        values = {"text_field": fields[0]} if name == "text" else common  # text_filter takes one field
        steps[name] = build(LEGACY_FILTERS[name], values, overrides_for(name), nullable)
    shown = {"text": ", ".join(fields), "instruction": instruction_field or "none", "response": response}
    summary = {"profile": "custom", "chosen": f"--filters {','.join(names)}; instruction field {chosen}",
               "fields": shown, "stages": names}  # fmt: skip
    return FilterPlan(steps, fields[0], require_text=True, summary=summary)


def _detect_instruction(records: list[Mapping[str, Any]], taken: set[str]) -> tuple[str | None, str]:
    present = {k.lower(): k for r in records for k, v in r.items() if isinstance(v, str) and k not in taken}
    found = next((present[n] for n in INSTRUCTION_NAMES if n in present), None)
    return found, ("auto-detected" if found else "none found: instruction checks off")


# -- the optional LLM judge stage ---------------------------------------------------------------
JUDGE_LLM = "judge"
# What rules cannot see (AlpacaDataCleaned's "wrong answers", "nonsensical instructions", and
# hallucination from context the model never had), as `judge_score` rubric criteria.
JUDGE_RUBRIC = {
    "correctness": "Is the response correct: right facts, right arithmetic, right final answer, code that "
    "does what was asked? Score low for any wrong answer, however well written.",
    "sensible_instruction": "Is the instruction clear and possible for a text-only assistant (not asking it "
    "to act in the world, to change a font, to freeze a sample, or to see a file it was not given)?",
    "grounded": "Does the response use only what the instruction and input give it, instead of inventing "
    "the content of a web page, an image, a file or an earlier message it cannot see?",
}


def add_judge(plan: FilterPlan, model: str, base_url: str | None, api_key_env: str | None, min_score: float,
              build: StepBuilder, overrides: dict) -> dict[str, dict]:  # fmt: skip
    """Append a ``judge_score`` step (:data:`JUDGE_RUBRIC`, dropping records below `min_score` of
    10) to `plan`; returns the ``llms`` settings it needs. Pair profiles only."""
    fields = plan.summary["fields"]
    if "response" not in fields or fields.get("instruction") in (None, "none"):
        raise UsageError("--judge needs instruction/response pairs (profiles instruction, math, code, or "
                         "--filters with --instruction-field and --response-field)")  # fmt: skip
    config = {"llm": JUDGE_LLM, "rubric": JUDGE_RUBRIC, "min_score": min_score, "overall": "mean",
              "instruction_field": fields["instruction"], "response_field": fields["response"],
              "input_field": fields.get("input")}  # fmt: skip
    plan.steps["judge"] = build("judge_score", config, overrides, ("input_field",))
    plan.summary["judge"] = {"model": model, "min_score": min_score, "criteria": list(JUDGE_RUBRIC)}
    endpoint = {"model": model, "base_url": base_url, "api_key_env": api_key_env}
    return {JUDGE_LLM: {k: v for k, v in endpoint.items() if v is not None}}
