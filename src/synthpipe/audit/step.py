"""The ``audit`` recipe step and how its result joins the run's report, metrics and card.

The step passes every record through untouched; it samples the records it sees (evenly
spaced, like the standalone ``synthpipe audit``), audits them against an optional reference
set, and writes ``audit.json`` into its checkpoint directory, so a resumed or unchanged run
reuses it with the step's other outputs. When the run finishes, :func:`finish_audits` adds
what only the whole run knows (contamination from the ledger), the traffic-light rows, the
report sections and ``card.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import Field

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.records import Batch
from synthpipe.data.sampling import StreamSample
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext

AUDIT_FILE = "audit.json"


class AuditConfig(StepConfig):
    reference: str | None = Field(
        None, description="real data to compare against (path or bundled:...); omit for diversity and bias only"
    )
    text_field: str = Field("text", description="field holding the text to audit")
    label_field: str = Field("label", description="field holding the label, if any")
    reference_text_field: str | None = Field(None, description="text field in the reference [default: text_field]")
    reference_label_field: str | None = Field(
        None, description="label field in the reference [default: label_field]"
    )
    embed: bool = Field(True, description="embedding metrics (MiniLM); false = lexical metrics only")
    sample: int = Field(2000, ge=2, description="audit at most this many evenly spaced records of each set")


@register_step("audit")
class Audit(GlobalStep):
    """Audits the records reaching it (diversity, fidelity, bias) and keeps them all.

    Compares with ``reference`` when given. Writes ``audit.json`` into the step's checkpoint
    directory; the run's report.html, metrics.json (``audit``) and card.md include the result.

    Input columns: `text_field` (default ``text``); `label_field` is read when present.
    Output columns: none: records pass through unchanged.
    Drop reasons: none.
    References: the metrics' papers, e.g. Li et al. (2016), "A Diversity-Promoting Objective
    Function for Neural Conversation Models" (distinct-n); Zhu et al. (2018), "Texygen"
    (self-BLEU); Heusel et al. (2017) (Fréchet distance); Naeem et al. (2020), "Reliable
    Fidelity and Diversity Metrics for Generative Models"; Pillutla et al. (2021), "MAUVE";
    Liang et al. (2022), "Holistic Evaluation of Language Models" (demographic representation).
    See :mod:`synthpipe.audit.diversity`, :mod:`~synthpipe.audit.fidelity` and
    :mod:`~synthpipe.audit.bias`.
    """

    Config = AuditConfig

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    def reference_path(self) -> Path | None:
        if self.config.reference is None:
            return None
        path = resolve_data_path(self.config.reference)
        if not path.exists():
            raise UsageError(f"audit: reference {self.config.reference!r} not found ({path}); "
                             "give a data file or directory, or bundled:<name>")  # fmt: skip
        return path

    def input_files(self) -> list[Path]:
        path = self.reference_path()
        return [path] if path else []

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        sample = StreamSample(self.config.sample)  # one pass over the input, bounded memory
        for batch in batches():
            for record in batch:
                sample.add(_audit_fields(record, self.config.text_field, self.config.label_field))
            yield batch
        self._write(ctx, sample.result(), sample.seen)

    def _write(self, ctx: StepContext, sample: list[dict], total: int) -> None:
        from synthpipe.audit.dataset import audit_dataset

        cfg = self.config
        audit = audit_dataset(sample, self._reference(), embed=cfg.embed, sample=cfg.sample, seed=ctx.seed)
        audit["n_records"] = total
        audit["sample"]["of"] = total
        audit["text_field"], audit["label_field"] = cfg.text_field, cfg.label_field
        audit["inputs"] = {"data": f"records reaching step {ctx.name!r}", "reference": cfg.reference}
        if ctx.step_dir is None:
            raise UsageError("the audit step needs a run directory (run it through a Pipeline)")
        path = Path(ctx.step_dir) / AUDIT_FILE
        path.write_text(json.dumps(audit, default=str) + "\n", encoding="utf-8")

    def _reference(self) -> list[dict] | None:
        from synthpipe.data.readers import read_all

        path = self.reference_path()
        if path is None:
            return None
        cfg = self.config
        text = cfg.reference_text_field or cfg.text_field
        label = cfg.reference_label_field or cfg.label_field
        return [_audit_fields(r, text, label) for r in read_all(path, fields={})]


def _audit_fields(record: dict, text_field: str, label_field: str) -> dict:
    """The fields the audit reads, under the names it expects (plus grounding/contamination)."""
    out = {"text": record.get(text_field), "label": record.get(label_field)}
    for key in ("grounding_score", "contamination", "verification"):
        if key in record:
            out[key] = record[key]
    return out


def finish_audits(
    step_dirs: list[tuple[str, Path]], metrics: dict, kept: list[dict], dropped: list[dict]
) -> list[tuple[str, dict]]:
    """``(step name, audit)`` for every audit step of the run, completed with the run's
    contamination and verifier facts and signature rows."""
    from synthpipe.audit.run_facts import contamination_facts, verification_facts
    from synthpipe.audit.signatures import signatures

    found = []
    for name, directory in step_dirs:
        path = directory / AUDIT_FILE
        if not path.exists():
            continue
        audit = json.loads(path.read_text(encoding="utf-8"))
        audit["contamination"] = contamination_facts(metrics, kept, dropped)
        audit["verification"] = verification_facts(metrics, kept)
        audit["signatures"] = signatures(audit)
        found.append((name, audit))
    return found
