"""A markdown dataset card from an audit (and, when available, the run that made the data).

Sections: how the data was made, what was removed and why, the audit numbers, intended use,
known limitations. Everything is templated from facts; where a fact is unknown the card says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthpipe.audit.signatures import signatures
from synthpipe.report.audit_section import mauve_text
from synthpipe.report.format import markdown_cell as _md

LINEAGE_SAMPLE = 500  # records whose lineage is inspected for techniques, models, templates


def _lineage_facts(records: Sequence[dict]) -> dict[str, Counter]:
    """Counts of technique, model, template hash and source over a sample of lineages."""
    facts: dict[str, Counter] = {k: Counter() for k in ("technique", "model", "template", "source")}
    n = len(records)
    step = max(1, n // LINEAGE_SAMPLE)
    for record in list(records)[::step][:LINEAGE_SAMPLE]:
        lineage = record.get("_lineage")
        if not isinstance(lineage, dict):
            continue
        entries = [lineage, *(v for v in lineage.values() if isinstance(v, dict))]
        for entry in entries:
            for key in facts:
                value = entry.get(key)
                if isinstance(value, (str, int)) and value != "":
                    facts[key][str(value)] += 1
    return facts


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _made(audit: dict, run_metrics: dict | None, records: Sequence[dict] | None) -> list[str]:
    out = ["## How the data was made", ""]
    if run_metrics:
        run = run_metrics.get("run") or {}
        facts = [
            (k, run.get(k)) for k in ("name", "recipe", "started", "seed", "synthpipe_version")
        ]
        out += [f"- {k}: {_md(v)}" for k, v in facts if v is not None]
        steps = [s for s in run_metrics.get("steps") or [] if isinstance(s, dict)]
        if steps:
            out.append(
                "- steps: "
                + " → ".join(f"{s.get('name', '?')} (`{s.get('step', '?')}`)" for s in steps)
            )
            for s in steps:
                cfg = s.get("config") or {}
                gen = {
                    k: cfg[k]
                    for k in ("llm", "model", "technique")
                    if isinstance(cfg, dict) and cfg.get(k)
                }
                if gen:
                    out.append(f"  - {s.get('name', '?')}: {_md(gen)}")
    else:
        out.append("- No run metrics were given: the generation process is not documented here.")
    if records:
        facts = _lineage_facts(records)
        labels = {"technique": "generator / technique", "model": "model",
                  "template": "prompt-template hashes", "source": "sources"}  # fmt: skip
        for key, title in labels.items():
            if facts[key]:
                top = ", ".join(f"`{v}` ({n})" for v, n in facts[key].most_common(5))
                out.append(
                    f"- {title} (from `_lineage` of a {LINEAGE_SAMPLE}-record sample): {top}"
                )
    out.append("")
    return out


def _removed(run_metrics: dict | None) -> list[str]:
    out = ["## What was removed and why", ""]
    steps = [s for s in (run_metrics or {}).get("steps") or [] if isinstance(s, dict)]
    if not steps:
        out += ["Unknown: no run metrics were given, so the filtering funnel is not recorded.", ""]
        return out
    rows = []
    for s in steps:
        reasons = s.get("reasons") or {}
        top = ", ".join(f"{r} ({n})" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        rows.append(
            [
                s.get("name", "?"),
                s.get("in"),
                s.get("kept", s.get("out")),
                s.get("dropped"),
                top or "–",
            ]
        )
    out += _table(["step", "in", "kept", "dropped", "top reasons"], rows)
    out += ["", f"Kept {_md(run_metrics.get('kept'))}, dropped {_md(run_metrics.get('dropped'))}, "
            f"quarantined {_md(run_metrics.get('quarantined', 0))}.", ""]  # fmt: skip
    return out


def _numbers(audit: dict) -> list[str]:
    s = audit.get("sample") or {}
    emb = audit.get("embeddings") or {}
    out = ["## Audit", "",
           f"{_md(audit.get('n_records'))} records; metrics on {_md(s.get('size'))} evenly spaced records. "
           + ("Embeddings: all-MiniLM-L6-v2." if emb.get("used")
              else f"Embeddings not used ({_md(emb.get('note'))}): lexical metrics only."),
           ""]  # fmt: skip
    out += _table(["signature", "status", "value", "explanation"],
                  [[r["name"], r["status"].upper(), r["value"], r["explanation"]]
                   for r in audit.get("signatures") or signatures(audit)])  # fmt: skip
    out += _diversity(audit.get("diversity") or {})
    fid = audit.get("fidelity")
    if fid:
        rows: list[list[Any]] = [
            ["length KS", fid["length"]["ks"]],
            ["vocabulary TV", fid["vocabulary_tv"]],
        ]
        if "labels" in fid:
            rows.append(["label TV", fid["labels"]["tv"]])
        rows += [[k, v] for k, v in (fid.get("prdc") or {}).items()]
        if "mauve" in fid:
            rows.append(["MAUVE", mauve_text(fid)])
        out += ["", "### Fidelity vs reference", "", fid.get("note", ""), ""]
        out += _table(["metric", "value"], rows)
    out += _bias(audit)
    out += _labels(audit)
    out.append("")
    return out


_LEXICAL = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "compression_ratio", "homogenization")


def _diversity(div: dict) -> list[str]:
    """Length-controlled diversity, next to the reference's values when there is one."""
    if not div:
        return []
    ref = div.get("reference")
    note = f"On the opening {_md(div.get('window'))} words of each text (length-controlled)"
    if ref:
        out = ["", "### Diversity", "", note + f"; reference measured the same way, n = {_md(ref['n'])} each.", ""]
        rows = [[k, ref["synthetic"][k], ref["reference"][k]] for k in _LEXICAL]
        if div.get("vendi_vs_reference"):
            v = div["vendi_vs_reference"]
            rows.append([f"vendi_per_text (n = {v['n']})", v["synthetic"], v["reference"]])
        return out + _table(["metric", "synthetic", "reference"], rows)
    keys = (*_LEXICAL, "vendi", "vendi_per_text")
    return ["", "### Diversity", "", note + "; no reference.", ""] + _table(
        ["metric", "value"], [[k, div[k]] for k in keys if k in div]
    )


def _labels(audit: dict) -> list[str]:
    """Label counts, then the kept shares next to the seeds' and the reference's."""
    labels = audit.get("labels")
    if not labels:
        return []
    out = ["", f"### Labels (`{labels['field']}`, {labels['n_labels']} values)", ""]
    drift = audit.get("label_drift")
    anchors = [k for k in ("seeds", "reference") if drift and drift.get(k)]
    rows = []
    for k, n in list(labels["counts"].items())[:30]:
        rows.append([k, n, labels["fractions"][k]] + [drift[a]["distribution"].get(k, 0.0) for a in anchors])
    out += _table(["label", "count", "fraction", *(f"{a} fraction" for a in anchors)], rows)
    if anchors:
        out += ["", "Total variation of the kept labels: "
                + ", ".join(f"vs {a} {_md(drift[a]['tv'])}" for a in anchors) + "."]  # fmt: skip
    return out


def _bias(audit: dict) -> list[str]:
    """A short bias paragraph from ``audit["bias"]`` (gender balance, HELM, HolisticBias axes)."""
    b = audit.get("bias")
    if not b:
        return []
    dr = b.get("demographic_representation") or {}
    counts = dr.get("counts") or {}
    n = sum(counts.values())
    if n:
        share = (dr.get("distribution") or {}).get("female", 0.0)
        ci = dr.get("female_ci")
        share_text = f"{share:.0%} female" + (f", 95% CI {ci[0]:.0%}-{ci[1]:.0%}" if ci else "")
        text = (f"Gendered words in the sample: {_md(counts.get('male'))} male, "
                f"{_md(counts.get('female'))} female ({share_text}; HELM demographic "
                f"representation {_md(dr.get('tvd'))}, 0 = balanced, 0.5 = one group only).")  # fmt: skip
    else:
        text = "No gendered words in the sample: gender balance was not measurable."
    ref = b.get("reference")
    skew = b.get("representation_skew") or {}
    if ref:
        rdist = (ref.get("demographic_representation") or {}).get("distribution")
        gtvd = (skew.get("gender") or {}).get("tvd")
        if rdist is not None:
            text += f" The reference is {rdist.get('female', 0.0):.0%} female"
            text += f" (TVD vs synthetic {_md(gtvd)})." if gtvd is not None else "."
        axes = [
            (a, v["tvd"])
            for a, v in (skew.get("axes") or {}).items()
            if v.get("tvd") is not None and v.get("comparable", True)
        ]
        if axes:
            top = sorted(axes, key=lambda kv: (-kv[1], kv[0]))[:3]
            text += (
                " HolisticBias axes that differ most from the reference: "
                + ", ".join(f"{a} (TVD {_md(t)})" for a, t in top)
                + "."
            )
    stereo = ((b.get("stereotypical_associations") or {}).get("professions") or {}).get("score")
    if stereo is not None:
        text += f" Stereotypical profession associations (HELM): {_md(stereo)}."
    ws = b.get("word_sense") or {}
    if ws.get("matches"):
        text += (f" HolisticBias descriptors count only where they refer to a person: {ws['about_people']:,} "
                 f"of {ws['matches']:,} matches did.")  # fmt: skip
    text += (" Lexicon counts only: they show who is mentioned, not how; they miss"
             " groups the lexicons do not list.")  # fmt: skip
    return ["", "### Bias and representation", "", text]


def _use_and_limits(audit: dict) -> list[str]:
    limits = [
        "Automatic metrics only: no human read this data for this card. Diversity and fidelity "
        "numbers flag gross failures (collapse, distribution shift); they do not establish that "
        "texts or labels are correct.",
        "Thresholds are calibrated on small English classification corpora (~1k texts) and "
        "depend on sample size; treat amber/red as prompts to look, not verdicts.",
    ]
    if not (audit.get("embeddings") or {}).get("used"):
        limits.append("No embeddings were computed: semantic diversity (Vendi) and "
                      "precision/recall/MAUVE were not measured.")  # fmt: skip
    if not audit.get("fidelity"):
        limits.append("No reference set was given: closeness to real data is unknown.")
    c = audit.get("contamination")
    if not c or not c.get("checked"):
        limits.append("Benchmark contamination was not checked (or its results were not given).")
    for r in audit.get("signatures") or []:
        if r["status"] in ("amber", "red"):
            limits.append(f"{r['name']} is {r['status']}: {r['explanation']}")
    return [
        "## Intended use",
        "",
        "Training or evaluating models on the task this data was generated for, after the "
        "maintainers have spot-checked samples. Not intended as a benchmark test set, nor for "
        "decisions about people.",
        "",
        "## Known limitations",
        "",
        *[f"- {x}" for x in limits],
        "",
    ]


def dataset_card(
    audit: dict, run_metrics: dict | None = None, records: Sequence[dict] | None = None
) -> str:
    """Markdown dataset card from an :func:`~synthpipe.audit.dataset.audit_dataset` dict, plus the
    run's ``metrics.json`` (steps, funnel) and a ``records`` sample (``_lineage``) when given."""
    name = ((run_metrics or {}).get("run") or {}).get("name") or (audit.get("inputs") or {}).get(
        "data"
    )
    lines = [f"# Dataset card: {_md(name or 'dataset')}", ""]
    lines += _made(audit, run_metrics, records)
    lines += _removed(run_metrics)
    lines += _numbers(audit)
    lines += _helps((run_metrics or {}).get("experiment"))
    lines += _use_and_limits(audit)
    return "\n".join(lines)


def _helps(result: dict | None) -> list[str]:
    """The run's experiment, if it had one: does training on this data help on real test data?"""
    if not result or not result.get("variants"):
        return []
    metric, ref, test = result.get("primary_metric", "accuracy"), result.get("reference", "real"), result["test"]
    lines = ["## Does it help? (experiment)", "",
             f"{metric} on the real test set `{_md(test.get('source'))}` (n = {_md(test.get('n'))}), "
             f"mean ± std over seeds; difference from `{ref}` with a 95% paired-bootstrap interval.", ""]  # fmt: skip
    rows = []
    for name, v in result["variants"].items():
        m = (v.get("summary") or {}).get(metric) or {}
        d = v.get("diff_vs_reference")
        diff = "reference" if name == ref or not d else f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
        rows.append([name, v.get("n_train"), f"{_md(m.get('mean'))} ± {_md(m.get('std') or 0.0)}", diff])
    return lines + _table(["variant", "n train", metric, f"vs {ref}"], rows) + [""]
