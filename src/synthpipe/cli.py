"""The `synthpipe` command line. Exit codes: 0 ok, 1 failure, 2 usage error, 3 budget reached,
4 no record kept (unless --allow-empty)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthpipe import __version__
from synthpipe.errors import SynthpipeError, UsageError, disk_full, validation_message

# Help strings are rich markup, where "[default: x]" reads as a style tag and vanishes:
# write a literal bracket as "\\[".


class _HelpWithDefaults(typer.core.TyperGroup):
    """Every option's --help says its default: click shows none for a flag that is off or an
    option left unset, so those get "[default: off]" / "[default: none]" (unless their help
    already names one)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _show_defaults(self)


def _show_defaults(group) -> None:
    for command in group.commands.values():
        if hasattr(command, "commands"):  # a sub-app such as `verify`
            _show_defaults(command)
            continue
        for param in command.params:
            if not hasattr(param, "is_flag") or "default:" in (param.help or ""):  # options only
                continue
            if param.is_flag and not param.default and not param.secondary_opts:
                param.help = f"{param.help or ''} \\[default: off]".strip()
            elif param.default is None:
                shown = param.secondary_opts[0] if param.secondary_opts else "none"
                param.help = f"{param.help or ''} \\[default: {shown}]".strip()


app = typer.Typer(
    cls=_HelpWithDefaults,
    name="synthpipe",
    help="Generate, curate, audit and prove synthetic data for language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"synthpipe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


@app.command()
def run(
    recipe: Annotated[str, typer.Argument(help="Recipe file, or the name of a bundled recipe (see `synthpipe recipes`).")],
    out_dir: Annotated[str | None, typer.Option("--out", "-o", help="Run directory, or an object-store URI such as s3://bucket/prefix \\[default: runs/<recipe name>].")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a recipe value: steps.generate.n=500 (repeatable).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard checkpoints and start over.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first malformed input record instead of quarantining it.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables: one summary line with the report path.")] = False,
    silent: Annotated[bool, typer.Option("--silent", help="Print nothing on success (errors still go to stderr).")] = False,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Exit 0 even if no record is kept (otherwise exit 4).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print LLM requests, tokens and cost estimates; call no LLM.")] = False,
    executor: Annotated[str, typer.Option("--executor", help="local (this machine) or ray (a Ray cluster).")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address, e.g. ray://host:10001 \\[default: start a local Ray].")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a run of more than 1,000,000 records.")] = False,
) -> None:
    """Run a recipe; rerunning the same command resumes where it stopped."""
    from synthpipe.pipeline.progress import NullProgress, RichProgress
    from synthpipe.run.api import Pipeline
    from synthpipe.run.bundled import find_recipe

    pipeline = Pipeline.from_recipe(find_recipe(recipe), overrides or [])
    if dry_run:
        _print_estimate(pipeline.dry_run(out_dir, yes=yes), as_json)
        return
    progress = NullProgress() if (quiet or silent or as_json) else RichProgress(Console(stderr=True))
    result = pipeline.run(out_dir, fresh=fresh, strict=strict, progress=progress, executor=executor, address=address, yes=yes)
    metrics = result.metrics
    if as_json:
        summary = {
            "run_dir": result.location,  # a URI for a run directory on an object store
            "kept": metrics["kept"],
            "dropped": metrics["dropped"],
            "quarantined": metrics["quarantined"],
            "steps": [{k: s[k] for k in ("name", "in", "kept", "dropped", "reasons", "reused")} for s in metrics["steps"]],
            "report": str(result.run_dir / "report.html"),
        }
        print(json.dumps(summary, indent=2))
    elif silent:
        pass
    elif quiet:
        _print_summary_line(metrics, result.run_dir / "report.html")
    else:
        _print_funnel(metrics)
        for name, audit_result in (metrics.get("audit") or {}).items():
            _print_signatures(audit_result["signatures"], f"audit ({name})")
        if metrics.get("experiment"):
            from synthpipe.report.experiment_section import format_table

            out.print(format_table(metrics["experiment"]), soft_wrap=True, highlight=False)
        out.print(f"report: [bold]{(result.run_dir / 'report.html').resolve()}[/bold]", soft_wrap=True)
    _say_target_missed(metrics, silent)
    _refuse_empty(metrics, result.run_dir, allow_empty)


@app.command()
def inspect(
    location: Annotated[str, typer.Argument(help="A run directory (e.g. runs/quickstart), or its s3://... URI.")],
    samples: Annotated[int, typer.Option(help="Sample records to show per section.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the funnel as JSON.")] = False,
) -> None:
    """Show a run's funnel (records in/out per step, top drop reasons) and sample records."""
    from synthpipe.pipeline.rundir import local_copy
    from synthpipe.run.api import RunResult

    run_dir = local_copy(location)
    if not run_dir.is_dir():
        raise UsageError(f"no such run directory: {run_dir}")
    result = RunResult(run_dir)
    if as_json:
        print(json.dumps({"steps": result.metrics["steps"], "kept": result.metrics["kept"],
                          "dropped": result.metrics["dropped"], "quarantined": result.metrics["quarantined"]}, indent=2))
        return
    from synthpipe.data.run_outputs import read_output

    _print_funnel(result.metrics)  # then samples, streamed: a file or shards, never all in memory
    _print_samples("kept", [r for batch in read_output(run_dir, "kept", limit=samples) for r in batch][:samples])
    by_reason: dict[str, list] = {}
    for record in (r for batch in read_output(run_dir, "dropped") for r in batch):
        key = f"{record['_drop']['step']}:{record['_drop']['reason']}"
        held = by_reason.setdefault(key, [])
        if len(held) < samples:
            held.append(record)
    for key, records in by_reason.items():
        _print_samples(f"dropped {key}", records[:samples])


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Input: .jsonl, .jsonl.gz, .parquet, .csv or a saved HF dataset dir.")],
    target: Annotated[Path, typer.Argument(help="Output path; its suffix picks the format unless --to is given.")],
    to: Annotated[str | None, typer.Option("--to", help="Output format: jsonl, jsonl.gz, parquet, csv, hf.")] = None,
    text_field: Annotated[str, typer.Option(help="Input field that becomes `text`.")] = "text",
    label_field: Annotated[str | None, typer.Option(help="Input field that becomes `label`.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Input field holding ids.")] = "id",
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first malformed record.")] = False,
) -> None:
    """Convert records between formats, mapping fields and quarantining malformed records."""
    from synthpipe.data.quarantine import Quarantine
    from synthpipe.data.readers import read_records
    from synthpipe.data.writers import write_records

    fields = {"text": text_field, **({"label": label_field} if label_field else {})}
    quarantine_path = target.with_name(target.name + ".quarantine.jsonl")
    quarantine_path.unlink(missing_ok=True)
    with Quarantine(quarantine_path, strict=strict) as quarantine:
        batches = read_records(source, fields=fields, required=["text"], types={"text": str},
                               quarantine=quarantine, id_field=id_field)
        count = write_records((r for batch in batches for r in batch), target, format=to)
    line = f"wrote {count} records to {target}"
    if quarantine.count:
        line += f"; quarantined {quarantine.count} malformed records -> {quarantine_path}"
    out.print(line, soft_wrap=True, highlight=False)


# -- one-shot curation commands -----------------------------------------------------------
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory: kept, dropped (ledger), summary.json, report.")]
TextFieldOpt = Annotated[list[str] | None, typer.Option("--text-field", help="Field(s) holding the text \\[default: text].")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Output format \\[default: the input's].")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Discard checkpoints in --out and start over.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on the first malformed input record.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables: one summary line with the report path.")]
SilentOpt = Annotated[bool, typer.Option("--silent", help="Print nothing on success (errors still go to stderr).")]
AllowEmptyOpt = Annotated[bool, typer.Option("--allow-empty", help="Exit 0 even if no record is kept (otherwise exit 4).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Step config override NAME.KEY=VALUE (repeatable).")]

_FILTERS = {"text": "text_filter", "repetition": "repetition_filter", "symbol": "symbol_filter",
            "llm_output": "llm_output_filter", "language": "language_filter"}  # fmt: skip
_PROFILES = ("instruction", "chat", "math", "code", "text", "web")


@app.command("filter")
def filter_command(
    source: Annotated[Path, typer.Argument(help="Input records (jsonl, jsonl.gz, parquet, csv, HF dataset dir).")],
    out_dir: OutOpt,
    profile: Annotated[str | None, typer.Option(help=f"Data profile: {', '.join(_PROFILES)} \\[default: chosen from the fields].")] = None,
    filters: Annotated[str | None, typer.Option(help=f"Instead of a profile, these filters in order, from: {', '.join(_FILTERS)}.")] = None,
    text_field: TextFieldOpt = None,
    instruction_field: Annotated[str | None, typer.Option(help="Instruction field \\[default: detected: instruction, prompt, question...].")] = None,
    input_field: Annotated[str | None, typer.Option(help="Optional input field (Alpaca `input`) \\[default: detected].")] = None,
    response_field: Annotated[str | None, typer.Option(help="Response field \\[default: detected, else the text field].")] = None,
    messages_field: Annotated[str | None, typer.Option(help="chat profile: field with the list of messages \\[default: detected].")] = None,
    languages: Annotated[str | None, typer.Option(help="Languages to keep, e.g. en,fr (adds the language filter).")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Also score each pair with this LLM (wrong answers, nonsensical instructions, invented context).")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the judge.")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(help="Environment variable holding the judge's API key.")] = None,
    judge_min_score: Annotated[float, typer.Option(help="Drop pairs the judge scores below this (1-10).")] = 5.0,
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Quality filters for the kind of data given (a profile, or --filters); every removed record goes to the ledger with its reason."""
    from synthpipe.run.filter_plan import add_judge, plan_chain, plan_profile, sample_records

    if not source.exists():
        raise UsageError(f"no such input: {source}")
    records = sample_records(source)
    langs = languages.split(",") if languages else None
    if filters is not None:
        names = [n.strip() for n in filters.split(",") if n.strip()]
        if languages and "language" not in names:
            names.append("language")
        plan = plan_chain(records, names, text_field, instruction_field, response_field, langs, _build_step,
                          lambda name: _overrides(sets, name))  # fmt: skip
    else:
        given = {"text": (text_field or [None])[0], "instruction": instruction_field, "input": input_field,
                 "response": response_field, "messages": messages_field}  # fmt: skip
        plan = plan_profile(records, profile, given, langs, _build_step, _overrides(sets, "filter"))
    llms = None
    if judge_model:
        llms = add_judge(plan, judge_model, judge_base_url, judge_api_key_env, judge_min_score, _build_step,
                         _overrides(sets, "judge"))  # fmt: skip
    if not (quiet or silent or as_json):
        err.print(plan.describe(), soft_wrap=True, highlight=False, markup=False)
    _curate("filter", source, out_dir, plan.steps, plan.text_field, fmt, fresh, strict, _quietness(quiet, silent), as_json,
            lambda result: {"profile": plan.summary}, require_text=plan.require_text, allow_empty=allow_empty,
            llms=llms)  # fmt: skip


_DEDUP = {"exact": "exact_dedup", "minhash": "minhash_dedup", "semantic": "semantic_dedup"}


@app.command()
def dedup(
    source: Annotated[Path, typer.Argument(help="Input records.")],
    out_dir: OutOpt,
    method: Annotated[str, typer.Option(help="exact (normalised text), minhash (near-duplicates), semantic (embeddings).")] = "minhash",
    threshold: Annotated[float | None, typer.Option(help="minhash: Jaccard [0.8]; semantic: cosine [0.9].")] = None,
    text_field: TextFieldOpt = None,
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Remove duplicates: the first record of each group is kept, the others go to the ledger."""
    if method not in _DEDUP:
        from synthpipe.pipeline.registry import suggest

        raise UsageError(f"unknown --method {method!r}{suggest(method, _DEDUP)}")
    field = (text_field or ["text"])[0]
    config = {"fields": [field], "text_field": field, "threshold": threshold}
    steps = {"dedup": _build_step(_DEDUP[method], config, _overrides(sets, "dedup"))}
    _curate("dedup", source, out_dir, steps, field, fmt, fresh, strict, _quietness(quiet, silent), as_json, _step_summaries,
            allow_empty=allow_empty)  # fmt: skip


@app.command()
def decontaminate(
    source: Annotated[Path, typer.Argument(help="Input records.")],
    out_dir: OutOpt,
    benchmarks: Annotated[str, typer.Option(help="Comma list of bundled benchmarks, or 'all' (see `synthpipe benchmarks`).")] = "all",
    semantic: Annotated[bool, typer.Option("--semantic", help="Also catch paraphrases by embedding similarity.")] = False,
    ngram: Annotated[int | None, typer.Option(help="n-gram size for the overlap detector [13].")] = None,
    action: Annotated[str, typer.Option(help="drop contaminated records, or flag them (adds `contamination`).")] = "drop",
    text_field: TextFieldOpt = None,
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Find benchmark test items (verbatim, edited or paraphrased) in the data; drop or flag them."""
    fields = text_field or ["text"]
    names = "all" if benchmarks.strip() == "all" else [b.strip() for b in benchmarks.split(",") if b.strip()]
    if not names and "extra_benchmarks" not in _overrides(sets, "decontaminate"):
        raise UsageError("--benchmarks names no benchmark: give bundled names (see `synthpipe benchmarks`) or 'all'")
    config = {"benchmarks": names, "text_fields": fields, "semantic": semantic, "ngram": ngram, "action": action}
    steps = {"decontaminate": _build_step("decontaminate", config, _overrides(sets, "decontaminate"))}
    _curate("decontaminate", source, out_dir, steps, fields[0], fmt, fresh, strict, _quietness(quiet, silent), as_json, _step_summaries,
            allow_empty=allow_empty)  # fmt: skip
    if not (quiet or silent or as_json):
        _print_decontamination(out_dir / "decontaminate_summary.json")


def _print_decontamination(path: Path) -> None:
    """Records caught per detector, and the answer-only n-gram matches set aside."""
    if not path.exists():
        return
    summary = json.loads(path.read_text())
    detectors = ", ".join(f"{d} {n}" for d, n in summary["by_detector"].items())
    spared = summary.get("spared_answer_only", 0)
    out.print(f"contaminated {summary['contaminated']} of {summary['records']} ({detectors}); {spared} kept whose "
              "only match was a short or formulaic stretch of a benchmark answer (see decontaminate_summary.json)",
              soft_wrap=True, highlight=False)  # fmt: skip


def _step_summaries(result) -> dict:
    """Steps' own summary files in the run dir (e.g. minhash_summary.json), folded into summary.json."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(result.run_dir.glob("*_summary.json"))}


@app.command()
def pii(
    source: Annotated[Path, typer.Argument(help="Input records.")],
    out_dir: OutOpt,
    action: Annotated[str, typer.Option(help="redact (placeholders like [EMAIL]), drop, or flag.")] = "redact",
    types: Annotated[str | None, typer.Option(help="Comma list of PII types \\[default: all].")] = None,
    text_field: TextFieldOpt = None,
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Find PII (emails, phones, cards, IPs, IBANs, national ids, credentials, secrets); redact, drop or flag.

    The ledger never stores a matched value. The run's read checkpoint under --out/steps holds the raw input."""
    fields = text_field or ["text"]
    config = {"text_field": fields if len(fields) > 1 else fields[0], "action": action,
              "types": types.split(",") if types else None}  # fmt: skip
    steps = {"pii": _build_step("pii", config, _overrides(sets, "pii"))}
    summarize = lambda result: _pii_summary(result, steps["pii"].config.output_field)  # noqa: E731
    _curate("pii", source, out_dir, steps, fields[0], fmt, fresh, strict, _quietness(quiet, silent), as_json, summarize,
            allow_empty=allow_empty)  # fmt: skip


def _pii_summary(result, field: str) -> dict:
    """Records with PII and matches per type, from the outputs streamed (not held in memory)."""
    from collections import Counter

    from synthpipe.run.oneshot import output_records

    by_type: Counter[str] = Counter()
    with_pii = 0
    for record in output_records(result):
        matches = record.get(field) or []
        with_pii += bool(matches)
        by_type.update(m.get("type", "?") for m in matches if isinstance(m, dict))
    return {"records_with_pii": with_pii, "matches_by_type": dict(by_type.most_common())}


# The steps the commands build, by module: looking a name up in the registry imports every step
# package (numpy, jinja2, jsonschema... ~0.5 s) where a command needs one module.
# tests/test_cli_curate.py checks each entry against the registry.
COMMAND_STEPS = {
    "exact_dedup": "synthpipe.curate.exact_dedup:ExactDedup",
    "minhash_dedup": "synthpipe.curate.minhash.step:MinHashDedup",
    "semantic_dedup": "synthpipe.curate.semantic_dedup:SemanticDedup",
    "decontaminate": "synthpipe.curate.decontam.step:Decontaminate",
    "pii": "synthpipe.curate.pii:PII",
    "text_filter": "synthpipe.curate.text_filters:TextFilter",
    "repetition_filter": "synthpipe.curate.filters.repetition:RepetitionFilter",
    "symbol_filter": "synthpipe.curate.filters.symbols:SymbolFilter",
    "llm_output_filter": "synthpipe.curate.filters.llm_output:LLMOutputFilter",
    "language_filter": "synthpipe.curate.filters.language_filter:LanguageFilter",
    "quality_filter": "synthpipe.curate.filters.quality:QualityFilter",
    "judge_score": "synthpipe.generate.llm_judge:PointwiseJudge",
    "verify_math": "synthpipe.verify.math_steps:VerifyMath",
    "verify_code": "synthpipe.verify.code_check:VerifyCode",
}


def _step_class(registered: str):
    if registered in COMMAND_STEPS:
        from synthpipe.importing import load_object

        return load_object(COMMAND_STEPS[registered], what="step")
    from synthpipe.pipeline.registry import get_step_class

    return get_step_class(registered)


def _build_step(registered: str, values: dict, overrides: dict, nullable: tuple[str, ...] = ()):
    """The step with those of `values` its config knows (None means 'use the default' unless nullable)."""
    from pydantic import ValidationError

    cls = _step_class(registered)
    config = {k: v for k, v in values.items() if k in cls.Config.model_fields and (v is not None or k in nullable)}
    overrides = {k: _typed(cls, k, v) for k, v in overrides.items()}
    try:
        return cls(**{**config, **overrides})
    except ValidationError as exc:  # a bad option or --set value: one line, no pydantic dump
        raise UsageError(f"{registered}: {validation_message(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{registered}: {exc}") from None


def _typed(cls, key: str, value):
    """A `--set` value read as the type of `cls.Config`'s field `key`."""
    if not isinstance(value, _RawSetting):
        return value
    from synthpipe.run.overrides import config_value

    return config_value(cls.Config, key, value.text, value.item)


def _overrides(sets: list[str] | None, name: str) -> dict:
    """`--set NAME.KEY=VALUE` items for the step `name`, as raw text: `_build_step` reads each
    value by the type its config field expects (text stays text)."""
    found = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        step, dot, field = key.partition(".")
        if not sep or not dot:
            raise UsageError(f"--set {item!r} must look like NAME.KEY=VALUE (e.g. repetition.min_words=0)")
        if step == name:
            found[field] = _RawSetting(value, item)
    return found


@dataclass(frozen=True)
class _RawSetting:
    text: str
    item: str  # the whole --set argument, for errors


def _curate(command, source, out_dir, steps, text_field, fmt, fresh, strict, quiet, as_json, summarize=None,
            require_text: bool = True, allow_empty: bool = False, llms: dict | None = None) -> None:
    from synthpipe.pipeline.progress import NullProgress, RichProgress
    from synthpipe.run.oneshot import run_curation

    if not source.exists():
        raise UsageError(f"no such input: {source}")
    progress = NullProgress() if (quiet or as_json) else RichProgress(Console(stderr=True))
    result = run_curation(command, source, out_dir, steps, text_field=text_field, fmt=fmt, strict=strict,
                          fresh=fresh, progress=progress, require_text=require_text, llms=llms)  # fmt: skip
    if summarize is not None:
        from synthpipe.run.oneshot import write_summary

        write_summary(result, summarize(result))
    if as_json:
        print((result.run_dir / "summary.json").read_text())
    elif quiet == "silent":
        pass
    elif quiet:
        _print_summary_line(result.metrics, result.run_dir / "report.html")
    else:
        _print_funnel(result.metrics)
        out.print(f"outputs in {result.run_dir.resolve()}", soft_wrap=True, highlight=False)
    _refuse_empty(result.metrics, result.run_dir, allow_empty)


def _say_target_missed(metrics: dict, silent: bool) -> None:
    """A run with `target:` that delivered fewer records than asked says so on stderr."""
    from synthpipe.run.target import shortfall_message

    message = shortfall_message(metrics)
    if message and not silent:
        err.print(message, style="bold red", markup=False, soft_wrap=True, highlight=False)


def _quietness(quiet: bool, silent: bool) -> bool | str:
    """What `_curate` prints: "silent" nothing, True one summary line, False the funnel."""
    return "silent" if silent else quiet


def _refuse_empty(metrics: dict, run_dir: Path, allow_empty: bool) -> None:
    """Kept 0 of N > 0 records: exit 4 (after the outputs are written) unless --allow-empty."""
    from synthpipe.errors import EmptyResultError
    from synthpipe.run.api import empty_result

    reason = None if allow_empty else empty_result(metrics)
    if reason:
        files = [metrics["output"]["dropped"], *(["quarantine.jsonl"] if metrics.get("quarantined") else []), "report.html"]
        raise EmptyResultError(f"{reason}. Outputs are written: see {', '.join(str(run_dir / f) for f in files)}; "
                               "pass --allow-empty to accept an empty result.")  # fmt: skip


def _print_summary_line(metrics: dict, report: Path) -> None:
    """--quiet: the counts and where the report is, on one line."""
    line = f"kept {metrics['kept']}  dropped {metrics['dropped']}  quarantined {metrics.get('quarantined', 0)}"
    out.print(f"{line}  report: {report.resolve()}", soft_wrap=True, highlight=False)


verify_app = typer.Typer(help="Check synthetic data with programs: math answers, code in a sandbox.", no_args_is_help=True)
app.add_typer(verify_app, name="verify")


@verify_app.command("math")
def verify_math(
    source: Annotated[Path, typer.Argument(help="Records with a problem, a candidate solution and a gold answer.")],
    out_dir: OutOpt,
    candidate_field: Annotated[str, typer.Option(help="Field with the candidate solution or answer.")] = "candidate",
    gold_field: Annotated[str, typer.Option(help="Field with the gold answer.")] = "final_answer",
    gold_is_solution: Annotated[bool, typer.Option("--gold-is-solution", help="The gold field is a worked solution (GSM8K `answer`): take its final answer.")] = False,
    problem_field: Annotated[str, typer.Option(help="Field with the problem (shown in the report).")] = "question",
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Keep records whose candidate's final answer equals the gold answer (####, \\boxed{}, "the answer is")."""
    config = {"candidate_field": candidate_field, "gold_field": gold_field, "gold_is_solution": gold_is_solution}
    steps = {"verify": _build_step("verify_math", config, _overrides(sets, "verify"))}
    # the problem is only shown in the report: records without it are still checked
    _curate("verify-math", source, out_dir, steps, problem_field, fmt, fresh, strict, _quietness(quiet, silent), as_json,
            _verify_summary, require_text=False, allow_empty=allow_empty)  # fmt: skip


@verify_app.command("code")
def verify_code(
    source: Annotated[Path, typer.Argument(help="Records with a program and its tests (HumanEval, MBPP or code/tests layout).")],
    out_dir: OutOpt,
    layout: Annotated[str, typer.Option(help="auto, humaneval, mbpp or plain.")] = "auto",
    code_field: Annotated[str | None, typer.Option(help="Field with the program \\[default: the layout's].")] = None,
    tests_field: Annotated[str | None, typer.Option(help="Field with the tests \\[default: the layout's].")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock seconds per program.")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="Address-space limit per program.")] = None,
    isolation: Annotated[str | None, typer.Option(help="auto, bwrap, unshare or none (see the sandbox docs).")] = None,
    workers: Annotated[int | None, typer.Option(help="Programs run at once.")] = None,
    sets: SetOpt = None, fmt: FormatOpt = None, fresh: FreshOpt = False, strict: StrictOpt = False,
    quiet: QuietOpt = False, silent: SilentOpt = False, as_json: JsonOpt = False, allow_empty: AllowEmptyOpt = False,
) -> None:
    """Run each program against its tests in the sandbox; keep those that pass."""
    config = {"layout": layout, "code_field": code_field, "tests_field": tests_field, "timeout_s": timeout,
              "memory_mb": memory_mb, "isolation": isolation, "workers": workers}  # fmt: skip
    steps = {"verify": _build_step("verify_code", config, _overrides(sets, "verify"))}
    # records of code need no `text`: the report shows the program field instead
    _curate("verify-code", source, out_dir, steps, code_field or "text", fmt, fresh, strict, _quietness(quiet, silent), as_json,
            _verify_summary, require_text=False, allow_empty=allow_empty)  # fmt: skip


def _verify_summary(result) -> dict:
    """Pass rate and failure reasons of the verify step, for summary.json."""
    step = next(s for s in result.metrics["steps"] if s["name"] == "verify")
    return {"verified": {"checked": step["in"], "passed": step["kept"],
                         "pass_rate": step["kept"] / step["in"] if step["in"] else None,
                         "failures": step.get("reasons") or {}}}  # fmt: skip


@app.command()
def export(
    location: Annotated[str, typer.Argument(help="Records to export (e.g. a run's kept.jsonl, or s3://.../kept.jsonl).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file (a directory for --format hf or argilla).")],
    fmt: Annotated[str, typer.Option("--format", help="openai, trl-messages, trl-prompt-completion, sharegpt, alpaca, dpo, hf, or argilla (a folder for rg.Dataset.from_disk); tool-use trajectories: openai-tools, trl-tools, sharegpt-tools.")],
    shape: Annotated[str | None, typer.Option(help="Row shape of --format hf \\[default: trl-messages].")] = None,
    instruction_field: Annotated[str | None, typer.Option(help="Field with the user turn \\[default: instruction, prompt, question, text].")] = None,
    input_field: Annotated[str | None, typer.Option(help="Optional extra input joined to the user turn \\[default: input].")] = None,
    output_field: Annotated[str | None, typer.Option(help="Field with the assistant turn \\[default: response, output, answer, completion, generation].")] = None,
    messages_field: Annotated[str | None, typer.Option(help="Field with a whole chat \\[default: messages, conversations].")] = None,
    system: Annotated[str | None, typer.Option(help="A fixed system prompt for records without one.")] = None,
    chosen_field: Annotated[str | None, typer.Option(help="DPO: preferred reply \\[default: chosen].")] = None,
    rejected_field: Annotated[str | None, typer.Option(help="DPO: dispreferred reply \\[default: rejected].")] = None,
    conversational: Annotated[bool | None, typer.Option("--conversational/--strings", help="trl-prompt-completion / dpo: message lists instead of strings.")] = None,
    join: Annotated[str | None, typer.Option(help="Text between instruction and input in one turn; \\n is a newline \\[default: one blank line].")] = None,
    label_field: Annotated[str | None, typer.Option(help="argilla: field whose values are the label question's options \\[default: label].")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export records to a fine-tuning format; records that can't be exported go to <out>.rejected.jsonl with a reason."""
    from synthpipe.data.storage import local_file
    from synthpipe.train.export import export_file

    source = local_file(location)  # an object-store URI: downloaded first

    if not source.exists():
        raise UsageError(f"no such input: {source}")
    summary = export_file(source, out_path, fmt, shape=shape, instruction_field=instruction_field,
                          input_field=input_field, output_field=output_field, messages_field=messages_field,
                          system=system, chosen_field=chosen_field, rejected_field=rejected_field,
                          conversational=conversational, label_field=label_field,
                          join=None if join is None else join.replace("\\n", "\n").replace("\\t", "\t"))  # fmt: skip
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
        return
    out.print(summary.describe(), soft_wrap=True, highlight=False)


@app.command()
def experiment(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (its kept records and ledger are the synthetic data).")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with the experiment keys \\[default: the run's recipe `experiment:`].")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a key: seeds=5, learning_curve=[100,500] (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train on the run's data variants and on real data; evaluate each on the real test set."""
    import yaml

    from synthpipe.evaluate.experiment import run_experiment
    from synthpipe.report.experiment_section import format_table

    if not (run_dir / "metrics.json").exists():
        raise UsageError(f"{run_dir} is not a finished run directory (no metrics.json)")
    source = config or run_dir / "recipe.yaml"
    if not source.exists():
        raise UsageError(f"no such experiment config: {source}")
    loaded = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    spec = loaded.get("experiment", loaded) if config is None else loaded
    if not spec:
        raise UsageError(f"{source} has no `experiment:` section; pass --config FILE")
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r} must look like KEY=VALUE (e.g. seeds=5)")
        spec[key] = yaml.safe_load(value)
    base = source.parent if config is not None else None
    result = run_experiment(spec, run_dir, base_dir=base)
    _add_experiment_to_report(run_dir, result)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    out.print(format_table(result), soft_wrap=True, highlight=False)
    out.print(f"wrote {run_dir / 'experiment.json'}; the run's report (verdict first): {run_dir / 'report.html'}",
              soft_wrap=True)  # fmt: skip


def _add_experiment_to_report(run_dir: Path, result: dict) -> None:
    """The run's metrics gain the experiment and its report is rendered again, verdict first;
    experiment/report.html is the same page."""
    import shutil

    from synthpipe.pipeline.rundir import RunDir
    from synthpipe.run.report_again import report_again

    rd = RunDir(run_dir)
    rd.write_json(rd.metrics_path, {**rd.read_json(rd.metrics_path), "experiment": result})
    (run_dir / "experiment").mkdir(exist_ok=True)
    shutil.copyfile(report_again(run_dir), run_dir / "experiment" / "report.html")


@app.command()
def loop(
    recipe: Annotated[str, typer.Argument(help="Recipe with a `loop:` section, or a bundled recipe's name.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Loop directory: iter-01, iter-02, ..., loop.json, loop_report.html.")],
    iterations: Annotated[int | None, typer.Option("--iterations", "-k", min=1, help="Iterations \\[default: the recipe's loop.iterations].")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a recipe value (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print loop.json on stdout.")] = False,
) -> None:
    """Generate -> curate -> train -> regenerate with the trained model, K times; rerun resumes."""
    from synthpipe.run.bundled import find_recipe
    from synthpipe.run.loop import REPORT_FILE, run_loop

    def say(row: dict) -> None:
        if not as_json:
            done = " (done earlier)" if row.get("reused") else ""
            out.print(f"iteration {row['iteration']}: kept {row['kept']}, accuracy {row['accuracy']:.3f}{done}", soft_wrap=True)

    data = run_loop(find_recipe(recipe), out_dir, iterations=iterations, overrides=overrides or [], on_iteration=say)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    for flag in data["flags"]:
        if flag["status"] == "red":
            out.print(f"[red]{flag['name']}[/red] ({flag['metric']}): {flag['explanation']}", soft_wrap=True, highlight=False)
    out.print(f"report: [bold]{(out_dir / REPORT_FILE).resolve()}[/bold]", soft_wrap=True)


@app.command()
def audit(
    location: Annotated[str, typer.Argument(help="Dataset to audit (jsonl, jsonl.gz, csv, parquet, HF dir), or a run directory (adds its funnel) or its s3://... URI.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for metrics.json, report.html, card.md.")],
    reference: Annotated[Path | None, typer.Option("--reference", help="Real data to compare against.")] = None,
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Field holding the label, if any.")] = "label",
    no_embed: Annotated[bool, typer.Option("--no-embed", help="Lexical metrics only (skip MiniLM embeddings).")] = False,
    embed_field: Annotated[str, typer.Option(help="What fidelity embeds: a field, fields joined by + (jointly), or auto (the response of prompt/response records).")] = "auto",
    seeds: Annotated[Path | None, typer.Option("--seeds", help="Seed records the data was generated from: their labels anchor the label-drift signature.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit a dataset: diversity / mode collapse, fidelity to a reference, failure signatures, dataset card."""
    from synthpipe.pipeline.rundir import local_copy
    from synthpipe.run.audit_files import run_audit

    data = local_copy(location)  # a run on an object store: a local copy of its outputs
    for path in (data, reference, seeds):
        if path is not None and not path.exists():
            raise UsageError(f"no such input: {path}")
    result = run_audit(data, out_dir, reference_path=reference, text_field=text_field,
                       label_field=label_field, embed=not no_embed, embed_field=embed_field, seeds_path=seeds)  # fmt: skip
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    _print_signatures(result["signatures"])
    out.print(f"wrote {out_dir / 'report.html'}, {out_dir / 'metrics.json'}, {out_dir / 'card.md'}", soft_wrap=True)


@app.command()
def report(
    location: Annotated[str, typer.Argument(help="A finished run directory (with metrics.json), or its s3://... URI.")],
) -> None:
    """Write a finished run's report.html again from its metrics, audit, experiment and records (runs nothing)."""
    from synthpipe.data.storage import Store, is_remote
    from synthpipe.pipeline.rundir import local_copy
    from synthpipe.run.report_again import report_again

    path = report_again(local_copy(location))
    if is_remote(location):  # the copy's report goes back next to the run's outputs
        Store(location).upload(path, "report.html")
        out.print(f"report: {location.rstrip('/')}/report.html (local copy: {path})", soft_wrap=True, highlight=False)
        return
    out.print(f"report: {path}", soft_wrap=True, highlight=False)


@app.command("judge-agreement")
def judge_agreement(
    run_dir: Annotated[Path, typer.Argument(help="A finished run with a judge step and reviews.jsonl.")],
    threshold: Annotated[float | None, typer.Option("--threshold", help="judge_score without min_score: accept at or above this \\[default: the middle of its scale].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreement as JSON.")] = False,
) -> None:
    """How far the run's LLM judges agree with people's labels: accuracy, Cohen's kappa, position bias (runs nothing)."""
    from synthpipe.run.judge_check import judge_agreement_again

    result = judge_agreement_again(run_dir, threshold)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table("judge", "compared", "n", "accuracy (95%)", "kappa", "position bias")
    for judge in result["judges"]:
        for row in _judge_rows(judge):
            table.add_row(*row)
    out.print(table)


def _judge_rows(judge: dict) -> list[list[str]]:
    """One row per comparison of a judge with people (accept/reject, preferred side)."""
    rate = (judge.get("position_bias") or {}).get("position_bias_rate")
    bias = "–" if rate is None else f"{rate:.1%}"
    rows = []
    for what, name in (("agreement", "accept/reject"), ("preference", "preferred side")):
        if not (b := judge.get(what)) or not b["n"]:
            continue
        acc = f"{b['accuracy']:.2f} [{b['interval']['low']:.2f}, {b['interval']['high']:.2f}]"
        kappa = "–" if b["kappa"] is None else f"{b['kappa']:.2f} ({b['kappa_reading']})"
        rows.append([judge["step"], name, f"{b['n']}{' (too few)' if b['too_few'] else ''}", acc, kappa, bias])
    return rows or [[judge["step"], "no labelled verdicts", "0", "–", "–", bias]]


@app.command()
def review(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory: its kept and dropped records are reviewed.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on; keep 127.0.0.1 unless others must reach it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port; 0 picks a free one.")] = 0,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your name on the labels (the page can change it).")] = "reviewer",
    queue: Annotated[str, typer.Option("--queue", help="random, lowest_score, judge_disagreement, near_threshold or per_label.")] = "random",
    threshold: Annotated[float | None, typer.Option("--threshold", help="near_threshold: the score threshold, for records whose drop detail has none.")] = None,
    margin: Annotated[float, typer.Option("--margin", help="near_threshold: relative distance from the threshold.")] = 0.1,
    label_field: Annotated[str, typer.Option("--label-field", help="per_label: the label field.")] = "label",
    seed: Annotated[int, typer.Option("--seed", help="random: the shuffle's seed (same seed, same order for every reviewer).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL only; do not open a browser.")] = False,
) -> None:
    """Label a run's records in a local web page (accept, reject, edit, note); a rerun applies the labels (see README, Human review)."""
    import time
    import webbrowser

    from synthpipe.run.review_app import ReviewServer, ReviewSettings

    settings = ReviewSettings(run_dir, reviewer=reviewer, queue=queue, seed=seed, threshold=threshold,
                              margin=margin, label_field=label_field)  # fmt: skip
    server = ReviewServer(settings, host=host, port=port)
    out.print(f"review {run_dir} (queue {queue}): {server.url}\nlabels: {run_dir / 'reviews.jsonl'}; Ctrl-C stops",
              soft_wrap=True, highlight=False)  # fmt: skip
    if not no_browser:
        webbrowser.open(server.url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@app.command()
def publish(
    location: Annotated[str, typer.Argument(help="A finished run directory, or its s3://... URI.")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hub dataset repository, ORG/NAME.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write and check the folder; upload nothing (no network).")] = False,
    private: Annotated[bool, typer.Option("--private", help="Create the repository as private.")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to write \\[default: RUN_DIR/publish].")] = None,
    shard_rows: Annotated[int, typer.Option("--shard-rows", help="Rows per Parquet shard.")] = 100_000,
    license: Annotated[str | None, typer.Option("--license", help="Licence of the data, a Hub licence id (mit, apache-2.0, cc-by-4.0, ...) \\[default: derived from the input data, else other].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the files, rows, licence and warnings as JSON.")] = False,
) -> None:
    """Write a Hub-ready dataset folder (Parquet shards, card, recipe, ledger summary) and upload it to the Hugging Face Hub."""
    from synthpipe.pipeline.rundir import local_copy
    from synthpipe.run.publish import publish as publish_run

    run_dir = local_copy(location)  # a run on an object store: a local copy of its outputs
    if not (run_dir / "metrics.json").exists():
        raise UsageError(f"{run_dir} is not a finished run directory (no metrics.json)")
    result = publish_run(run_dir, repo_id, out=out_dir, dry_run=dry_run, private=private,
                         shard_rows=shard_rows, license=license)  # fmt: skip
    if as_json:
        print(json.dumps({**vars(result), "folder": str(result.folder)}, indent=2, default=str))
        return
    out.print(result.describe(), soft_wrap=True, highlight=False)


@app.command()
def steps(
    name: Annotated[str | None, typer.Argument(help="Show one step in detail.")] = None,
) -> None:
    """List registered steps and their configs."""
    from synthpipe.pipeline.registry import get_step_class, registered_steps

    chosen = {name: get_step_class(name)} if name else registered_steps()
    for step_name, cls in chosen.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        out.print(f"[bold cyan]{step_name}[/]  ({cls.kind})  {doc[0] if doc else ''}")
        table = Table(show_header=True, box=None, padding=(0, 2))
        for column in ("key", "type", "default", "description"):
            table.add_column(column)
        for field_name, field in cls.Config.model_fields.items():
            annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(field_name, annotation.replace("typing.", ""), default, field.description or "")
        out.print(table)
        out.print()


@app.command()
def benchmarks() -> None:
    """List the bundled benchmark test sets that `decontaminate` checks against."""
    from synthpipe.curate.decontam.registry import get_benchmark, list_benchmarks, load_benchmark

    table = Table(show_header=True, box=None, padding=(0, 2))
    for column in ("name", "items", "source"):
        table.add_column(column)
    for name in list_benchmarks():
        bench = get_benchmark(name)
        table.add_row(name, str(len(load_benchmark(name))), str(getattr(bench, "description", "") or ""))
    out.print(table)


@app.command()
def recipes() -> None:
    """List the bundled recipes (run one with `synthpipe run NAME`)."""
    import yaml

    from synthpipe.run.bundled import bundled_recipes

    for stem, path in bundled_recipes().items():
        description = " ".join(((yaml.safe_load(path.read_text()) or {}).get("description") or "").split())
        summary = description if len(description) <= 100 else description[:97].rsplit(" ", 1)[0] + "..."
        out.print(f"[bold cyan]{stem:<16}[/] {summary}", highlight=False, soft_wrap=True)


def _print_estimate(estimate: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(estimate, indent=2))
        return
    table = Table(title="dry run: LLM requests before spending anything")
    for column in ("step", "model", "records in", "requests", "cached", "prompt tok", "completion tok ≤", "cost ≤"):
        table.add_column(column, justify="left" if column in ("step", "model") else "right")
    for row in estimate["steps"]:
        records = "?" if row["records_in"] is None else ("" if row["exact"] else "≤") + f"{row['records_in']:,}"
        cached = str(row.get("cached_first_requests", "")) if row["exact"] else ""
        table.add_row(row["step"], row["model"], records, f"{row['requests']:,}", cached,
                      f"{row['prompt_tokens']:,}", f"{row['completion_tokens_max']:,}", f"{row['cost_max']:.4f}")
    out.print(table)
    t = estimate["totals"]
    out.print(f"total: {t['requests']:,} requests, ~{t['prompt_tokens']:,} prompt tokens, "
              f"≤{t['completion_tokens_max']:,} completion tokens, cost ≤ {t['cost_max']:.4f}", soft_wrap=True)


def _print_funnel(metrics: dict) -> None:
    table = Table(title=f"run {metrics['run']['name']}", show_lines=False)
    for column in ("step", "kind", "in", "kept", "dropped", "top reasons", ""):
        table.add_column(column, justify="right" if column in ("in", "kept", "dropped") else "left")
    for s in metrics["steps"]:
        reasons = ", ".join(f"{r} {n}" for r, n in list(s["reasons"].items())[:3])
        table.add_row(s["name"], s["kind"], str(s["in"]), str(s["kept"]), str(s["dropped"]), reasons,
                      "reused" if s["reused"] else "")
    out.print(table)
    q = metrics.get("quarantined", 0)
    line = f"kept {metrics['kept']}  dropped {metrics['dropped']}  quarantined {q}"
    if q:
        line += f"  (see {Path(metrics['run']['run_dir']) / 'quarantine.jsonl'})"
    out.print(line)


def _print_signatures(rows: list[dict], title: str | None = None) -> None:
    """The audit's traffic lights, one line each (red and amber stand out in a terminal)."""
    colors = {"red": "bold red", "amber": "bold yellow", "green": "green", "n/a": "dim"}
    if title:
        out.print(f"[bold]{title}[/]")
    for row in rows:
        status = f"{row['status']:>5}"
        out.print(f"[{colors.get(row['status'], 'dim')}]{status}[/]  {row['name']}: ", end="", highlight=False)
        out.print(row["explanation"], markup=False, highlight=False, soft_wrap=True)


def _print_samples(title: str, records: list[dict]) -> None:
    if not records:
        return
    out.print(f"[bold]{title}[/]")
    for record in records:
        shown = {k: v for k, v in record.items() if k != "_lineage" and not (k == "_drop" and v is None)}
        out.print(f"  {json.dumps(shown, ensure_ascii=False, default=str)[:300]}")


def main() -> None:
    """Entry point: user errors print one clear message, never a traceback.

    Typer handles its own usage errors (exit 2); ours are SynthpipeError subclasses.
    """
    try:
        app()
    except SynthpipeError as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: rerun the same command to resume")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SYNTHPIPE_DEBUG"):
            raise
        if (full := disk_full(exc)) is not None:  # a write outside the atomic writers, which name their file
            err.print(Text.assemble(("error: ", "bold red"), str(full)), soft_wrap=True)
            sys.exit(full.exit_code)
        message = f"{type(exc).__name__}: {exc}\nrerun with SYNTHPIPE_DEBUG=1 for a traceback, and please report it."
        err.print(Text.assemble(("internal error: ", "bold red"), message), soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
