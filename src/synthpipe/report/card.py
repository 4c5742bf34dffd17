"""A markdown dataset card, ready for the Hugging Face Hub, from an audit (and, when available,
the run that made the data).

Layout: YAML front matter (licence, language, task and size categories, tags, source datasets,
the Parquet files of the default config), then what the data is, its fields, its sources with
their licences and citations, the models used, how it was made (with the recipe, paths made
relative), what was removed and why, the audit numbers, the experiment's verdict, intended use
and known limitations. Everything is templated from facts; where a fact is unknown the card
says so. No absolute path of the machine that made the data reaches the card.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from synthpipe.audit.signatures import signatures
from synthpipe.data.provenance import Source, describe, portable, recipe_sources, scrub_paths
from synthpipe.report.audit_section import mauve_text
from synthpipe.report.card_metadata import (
    choose_license,
    fields_section,
    front_matter,
    sources_section,
    yaml_block,
)
from synthpipe.report.format import format_value, metric_label, readable_text
from synthpipe.report.format import markdown_cell as _md

LINEAGE_SAMPLE = 500  # records whose lineage is inspected for techniques, models, templates


_HASH = re.compile(r"^[0-9a-f]{6,64}$")
# what a lineage's `template` holds depends on the generator: say which it is
LINEAGE_TITLES = {
    "technique": "generator / technique",
    "model": "model",
    "template": "prompt-template hashes",
    "seed_template": "seed records used as templates (ids)",
    "template_id": "templates (ids)",
    "source": "sources",
}


def _lineage_facts(records: Sequence[dict]) -> dict[str, Counter]:
    """Counts of technique, model, template and source over a sample of lineages. A template
    value is a prompt-template hash (LLM techniques), the id of the seed record a template was
    cut from (``slot_template``), or another template id."""
    facts: dict[str, Counter] = {k: Counter() for k in LINEAGE_TITLES}
    n = len(records)
    step = max(1, n // LINEAGE_SAMPLE)
    for record in list(records)[::step][:LINEAGE_SAMPLE]:
        lineage = record.get("_lineage")
        if not isinstance(lineage, dict):
            continue
        entries = [lineage, *(v for v in lineage.values() if isinstance(v, dict))]
        for entry in entries:
            for key in ("technique", "model", "template", "source"):
                value = entry.get(key)
                if isinstance(value, (str, int)) and value != "":
                    facts[_template_kind(entry, str(value)) if key == "template" else key][str(value)] += 1
    return facts


def _template_kind(entry: dict, value: str) -> str:
    if entry.get("technique") == "slot_template":
        return "seed_template"
    return "template" if _HASH.match(value) else "template_id"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _made(audit: dict, run_metrics: dict | None, records: Sequence[dict] | None) -> list[str]:
    out = ["## How the data was made", ""]
    if run_metrics:
        run = run_metrics.get("run") or {}
        recipe = run.get("recipe")
        facts = [
            ("name", run.get("name")),
            ("recipe", f"{Path(recipe).name} (published as `recipe.yaml`)" if recipe else None),
            *((k, run.get(k)) for k in ("started", "seed", "synthpipe_version")),
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
        for key, title in LINEAGE_TITLES.items():
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
                  [[r["name"], r["status"].upper(), _readable(r["value"]), r["explanation"]]
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


def _readable(value: Any) -> str:
    """A signature's value with short metric names (the card shows no raw key)."""
    return readable_text(format_value(value))


def _diversity(div: dict) -> list[str]:
    """Length-controlled diversity, next to the reference's values when there is one."""
    if not div:
        return []
    ref = div.get("reference")
    note = f"On the opening {_md(div.get('window'))} words of each text (length-controlled)"
    if ref:
        out = ["", "### Diversity", "", note + f"; reference measured the same way, n = {_md(ref['n'])} each.", ""]
        rows = [[metric_label(k), ref["synthetic"][k], ref["reference"][k]] for k in _LEXICAL]
        if div.get("vendi_vs_reference"):
            v = div["vendi_vs_reference"]
            rows.append([f"{metric_label('vendi_per_text')} (n = {v['n']})", v["synthetic"], v["reference"]])
        return out + _table(["metric", "synthetic", "reference"], rows)
    keys = (*_LEXICAL, "vendi", "vendi_per_text")
    return ["", "### Diversity", "", note + "; no reference.", ""] + _table(
        ["metric", "value"], [[metric_label(k), div[k]] for k in keys if k in div]
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
            limits.append(f"**{r['name'].capitalize()}** ({r['status']}: {STATUS_WORDS[r['status']]}): {r['explanation']}")
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


STATUS_WORDS = {"red": "a serious problem", "amber": "worth a look"}


def dataset_card(
    audit: dict,
    run_metrics: dict | None = None,
    records: Sequence[dict] | None = None,
    *,
    recipe: dict | None = None,
    sources: Sequence[Source] | None = None,
    license: str | None = None,
    repo_id: str | None = None,
    data_files: str | None = None,
    schema: pa.Schema | None = None,
    json_columns: Sequence[str] = (),
    base_dir: Path | None = None,
) -> str:
    """Markdown dataset card with Hub front matter.

    From an :func:`~synthpipe.audit.dataset.audit_dataset` dict, plus, when given: the run's
    ``metrics.json`` (steps, funnel, experiment), a ``records`` sample (``_lineage``, field
    examples), the run's `recipe` (as in its ``recipe.yaml``: sources, models, the recipe block),
    `sources` (else found in `recipe`, else in the audit's and experiment's inputs), the dataset
    `license` (a Hub id; else derived from the sources), the Hub `repo_id`, the `data_files` glob
    of the published Parquet files and their `schema` (else inferred from `records`).
    `base_dir` is the recipe's folder: paths inside it are shown relative to it.
    """
    metrics = run_metrics or {}
    name = (metrics.get("run") or {}).get("name") or (audit.get("inputs") or {}).get("data")
    if sources is None:
        sources = recipe_sources(recipe, base_dir) if recipe else _audit_sources(audit, metrics, base_dir)
    choice = choose_license(sources, license)
    schema = schema if schema is not None else _schema(records)
    text_field, label_field = audit.get("text_field"), audit.get("label_field")
    n = metrics.get("kept", audit.get("n_records", len(records) if records else None))
    pretty = repo_id.split("/")[-1] if repo_id else str(name or "dataset")
    meta = front_matter(license=choice, sources=sources, n_records=n, fields=schema.names if schema else [],
                        label_field=label_field, pretty_name=pretty, data_files=data_files,
                        tags=_technique_tags(records))  # fmt: skip
    lines = yaml_block(meta)
    lines += [f"# {_md(pretty)}", "", *_summary(metrics, n, choice.id), ""]
    if repo_id:
        lines += _loading(repo_id)
    if schema is not None and len(schema):
        lines += fields_section(schema, records, text_field=text_field, label_field=label_field, json_columns=json_columns)
    lines += sources_section(sources, choice)
    lines += _models(recipe, metrics, records, audit)
    lines += _made(audit, run_metrics, records)
    lines += _recipe_block(recipe, base_dir)
    lines += _removed(run_metrics)
    lines += _numbers(audit)
    lines += _helps(metrics.get("experiment"))
    lines += _use_and_limits(audit)
    return scrub_paths("\n".join(lines))


def _summary(metrics: dict, n: Any, license_id: str) -> list[str]:
    made = metrics.get("kept", n)
    total = (metrics.get("kept") or 0) + (metrics.get("dropped") or 0)
    funnel = f" (kept of {total:,} generated or read; the rest were filtered out, see below)" if metrics.get("dropped") else ""
    return [f"Synthetic data made with synthpipe: {_md(made)} records"
            f"{funnel}. Licence: `{license_id}`. Machine-generated: read the known limitations before use."]  # fmt: skip


def _loading(repo_id: str) -> list[str]:
    return ["## Loading", "", "```python", "from datasets import load_dataset", "",
            f'ds = load_dataset("{repo_id}", split="train")', "```", ""]  # fmt: skip


def _schema(records: Sequence[dict] | None) -> pa.Schema | None:
    if not records:
        return None
    from synthpipe.data.arrow import records_to_table

    table = records_to_table(records[:1000])
    return table.drop_columns([c for c in table.column_names if c.startswith("_") and c != "_lineage"]).schema


def _technique_tags(records: Sequence[dict] | None) -> list[str]:
    facts = _lineage_facts(records or [])
    return [t.lower().replace("_", "-") for t, _ in facts["technique"].most_common(3)]


def _audit_sources(audit: dict, metrics: dict, base_dir: Path | None) -> list[Source]:
    """Sources without a recipe: the audit's seeds (input) and reference, the experiment's sets."""
    inputs = audit.get("inputs") or {}
    found: dict[str, str] = {}
    for ref, role in [(inputs.get("seeds"), "input"), (inputs.get("reference"), "reference")] + [
        ((metrics.get("experiment") or {}).get("config", {}).get(k), "evaluation") for k in ("test", "real_train", "seeds_data")
    ]:
        if isinstance(ref, str) and ref not in found:
            found[ref] = role
    return [describe(ref, role, base_dir) for ref, role in found.items()]


def _models(recipe: dict | None, metrics: dict, records: Sequence[dict] | None, audit: dict) -> list[str]:
    """## Models used: the recipe's LLM endpoints with their request counts, models named in
    lineages, and the models the audit and experiment used to measure the data."""
    out = ["## Models used", ""]
    usage = (metrics.get("llm") or {}).get("endpoints") or {}
    for name, cfg in ((recipe or {}).get("llms") or {}).items():
        cfg = cfg if isinstance(cfg, dict) else {}
        stats = usage.get(name) or {}
        count = f", {stats['requests']:,} requests ({stats.get('cached', 0):,} cached)" if "requests" in stats else ""
        out.append(f"- `{name}`: {_md(cfg.get('backend', '?'))} model `{_md(portable(str(cfg.get('model', '?'))))}`{count}")
    for name in sorted(set(usage) - set((recipe or {}).get("llms") or {})):
        out.append(f"- `{_md(name)}`: {usage[name].get('requests', 0):,} requests")
    for model, n in _lineage_facts(records or [])["model"].most_common(5):
        out.append(f"- `{_md(model)}` (named in the lineage of {n} sampled records)")
    if len(out) == 2:
        out.append("- No language model generated these records (procedural or template generators only).")
    if (audit.get("embeddings") or {}).get("used"):
        out.append("- To measure only: all-MiniLM-L6-v2 sentence embeddings (audit).")
    if metrics.get("experiment"):
        trainer = ((metrics["experiment"].get("config") or {}).get("trainer")) or "?"
        out.append(f"- To measure only: the experiment's `{_md(trainer)}` trainer.")
    return [*out, ""]


RECIPE_MAX_CHARS = 20_000


def _recipe_block(recipe: dict | None, base_dir: Path | None) -> list[str]:
    if not recipe:
        return []
    text = yaml.safe_dump(portable(recipe, base_dir), sort_keys=False, allow_unicode=True, width=100)
    if len(text) > RECIPE_MAX_CHARS:
        return ["The full recipe is in `recipe.yaml` (too long to show here).", ""]
    return ["<details><summary>The recipe (as run, every default filled in; paths relative)</summary>", "",
            "```yaml", text.rstrip("\n"), "```", "", "</details>", ""]  # fmt: skip


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
    return lines + _verdict(result, metric, ref) + _table(["variant", "n train", metric, f"vs {ref}"], rows) + [""]


def _verdict(result: dict, metric: str, ref: str) -> list[str]:
    """One sentence: did the synthetic data match the reference variant, with its interval?"""
    v = result["variants"].get("synthetic") or {}
    d, r = v.get("diff_vs_reference"), result["variants"].get(ref) or {}
    if not d or ref == "synthetic":
        return []
    mine = ((v.get("summary") or {}).get(metric) or {}).get("mean")
    theirs = ((r.get("summary") or {}).get(metric) or {}).get("mean")
    if d["low"] > 0:
        word = "better than"
    elif d["high"] < 0:
        word = "worse than"
    else:
        word = "no detectably different from"
    return [f"**Verdict:** a model trained on this data scored {_md(mine)} {metric}, {word} `{ref}` "
            f"({_md(theirs)}): difference {d['diff']:+.3f}, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}].", ""]  # fmt: skip
