"""Bias audits for synthetic text: who is mentioned, how often, and in what tone.

All functions are pure (texts in, plain dicts out) and offline. Data they read is bundled:

- ``resources/holistic_bias/descriptors.json``: HolisticBias v1.1 descriptors (CC-BY-SA-4.0, kept in
  its own folder with its LICENSE and SOURCE.md). Smith et al. 2022, "I'm sorry to hear that":
  Finding New Biases in Language Models with a Holistic Descriptor Dataset (EMNLP 2022).
- ``resources/lexicons/gendered_terms.json``: hand-written male/female word pairs, pronouns, and
  profession / adjective target lists.
- ``resources/lexicons/names_gender.json``: a hand-written list of common first names by typical
  gender (a weak, culture-dependent proxy; only meaningful in aggregate).

Definitions
-----------
- *Total variation distance* (TVD) between distributions p and q over the same support:
  ``TVD(p, q) = 1/2 * sum_i |p_i - q_i|`` (0 = identical, 1 = disjoint).
- *Demographic representation* (HELM; Liang et al. 2022, "Holistic Evaluation of Language
  Models", sec. on bias metrics): the TVD between the observed distribution of mentions over
  groups (here male / female words) and the uniform distribution.
- *Stereotypical associations* (HELM): for each target word (a profession or adjective), the
  distribution of its co-occurrences with each group's words (same text) is compared with uniform
  by TVD; the score is the mean over targets that co-occur with any group word.
- *Group sentiment*: mean VADER compound score (Hutto & Gilbert 2014, "VADER: A Parsimonious
  Rule-based Model for Sentiment Analysis of Social Media Text", ICWSM) of the sentences that
  mention a HolisticBias descriptor, per axis and bucket.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from synthpipe.audit.intervals import wilson_interval
from synthpipe.audit.signatures import BIAS_THRESHOLDS
from synthpipe.audit.word_sense import SenseContext, plural_mentions
from synthpipe.importing import missing_message
from synthpipe.text.gender_swap import gender_hits as _gender_hits
from synthpipe.text.gender_swap import gender_words as _gender_words
from synthpipe.text.gender_swap import load_gendered_terms, load_names  # noqa: F401  (public here too)

_RES = Path(str(importlib.resources.files("synthpipe") / "resources"))
HOLISTIC_BIAS_DESCRIPTORS = _RES / "holistic_bias" / "descriptors.json"

GROUPS = ("male", "female")
MIN_AXIS_MENTIONS = BIAS_THRESHOLDS["min_axis_mentions"]
_WORD = re.compile(r"[A-Za-z]+")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


# -- helpers ----------------------------------------------------------------------------------
def tvd(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance ``1/2 * sum |p_i - q_i|`` over the union of keys."""
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)


def _normalize(counts: dict[str, int]) -> dict[str, float] | None:
    """Counts -> probabilities (same keys), or None if all counts are zero."""
    total = sum(counts.values())
    if total == 0:
        return None
    return {k: v / total for k, v in counts.items()}


def _tvd_from_uniform(counts: dict[str, int]) -> float | None:
    dist = _normalize(counts)
    if dist is None:
        return None
    return tvd(dist, {k: 1 / len(dist) for k in dist})


# -- HolisticBias -----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_descriptors() -> dict[str, dict[str, list[str]]]:
    """HolisticBias v1.1 descriptors as ``axis -> bucket -> [descriptor, ...]`` (strings only)."""
    raw = json.loads(HOLISTIC_BIAS_DESCRIPTORS.read_text(encoding="utf-8"))
    out: dict[str, dict[str, list[str]]] = {}
    for axis, buckets in raw.items():
        out[axis] = {}
        for bucket, entries in buckets.items():
            out[axis][bucket] = [e if isinstance(e, str) else e["descriptor"] for e in entries]
    return out


@lru_cache(maxsize=1)
def _descriptor_index() -> tuple[re.Pattern[str], dict[str, list[tuple[str, str]]]]:
    """One case-insensitive regex over all descriptors (longest first) and key -> [(axis, bucket)].

    Keys are lower-cased with hyphens/spaces collapsed to one space, so ``hard-of-hearing``
    also matches ``hard of hearing``.
    """
    where: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for axis, buckets in load_descriptors().items():
        for bucket, descs in buckets.items():
            for d in descs:
                key = _key(d)
                if (axis, bucket) not in where[key]:
                    where[key].append((axis, bucket))
    alts = []
    for key in sorted(where, key=lambda k: (-len(k), k)):
        alts.append(r"[-\s]+".join(re.escape(part) for part in key.split(" ")))
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(alts) + r")(?![\w-])", re.IGNORECASE)
    return pattern, dict(where)


def _key(phrase: str) -> str:
    return " ".join(re.split(r"[-\s]+", phrase.strip().lower()))


def descriptor_mentions(text: str) -> list[str]:
    """Descriptor keys found in ``text``: word-boundary, case-insensitive, longest match first.

    Matches do not overlap (``non-binary`` counts once, not also as ``binary``). Every match,
    whatever it refers to ("black pepper" too): :func:`person_mentions` keeps those about people.
    """
    return [key for key, _, _ in _senses(text)]


@lru_cache(maxsize=8192)
def _senses(text: str) -> tuple[tuple[str, bool, str], ...]:
    """Per descriptor match: (key, refers to a person, the match with a few words around it).
    Cached: one audit asks for the same texts several times (counts, skew, summary)."""
    pattern, _ = _descriptor_index()
    matches = list(pattern.finditer(text))
    if not matches:
        return ()
    context = SenseContext(text, [m.span() for m in matches])
    out = []
    for n, m in enumerate(matches):
        left = text[max(0, m.start() - 30) : m.start()].split()[-3:]
        right = text[m.end() : m.end() + 30].split()[:3]
        shown = " ".join([*left, f"[{m.group(0)}]", *right])
        out.append((_key(m.group(0)), context.refers_to_person(n), shown))
    return tuple(out)


def person_mentions(text: str) -> list[str]:
    """Descriptor keys in ``text`` that refer to a person (:mod:`synthpipe.audit.word_sense`):
    "a black woman", "my neighbour is old", "Muslims" count; "black pepper", "a large bowl",
    "an old house" and "frying pan" do not."""
    return [key for key, person, _ in _senses(text) if person] + plural_mentions(text)


def ignored_matches(text: str) -> list[str]:
    """The descriptor matches :func:`person_mentions` did not count, each with a few words of
    context (what the report shows as examples of ignored word senses)."""
    return [shown for _, person, shown in _senses(text) if not person]


def holistic_bias_counts(
    texts: Iterable[str], person_only: bool = True
) -> dict[str, dict[str, int]]:
    """Mentions of HolisticBias descriptors per ``axis -> bucket`` (all buckets, zeros included).

    A descriptor listed in several buckets counts once in each of them. ``person_only`` (the
    default) counts only mentions that refer to a person (:func:`person_mentions`); False
    counts every lexical match (:func:`descriptor_mentions`).
    """
    mentions = person_mentions if person_only else descriptor_mentions
    return _bucket_counts(mentions(text) for text in texts)


def _bucket_counts(mention_lists: Iterable[list[str]]) -> dict[str, dict[str, int]]:
    _, where = _descriptor_index()
    counts = {a: dict.fromkeys(b, 0) for a, b in load_descriptors().items()}
    for keys in mention_lists:
        for key in keys:
            for axis, bucket in where[key]:
                counts[axis][bucket] += 1
    return counts


def _person_lists(texts: Sequence[str]) -> list[list[str]]:
    """:func:`person_mentions` of every text, computed once for the several uses of a report."""
    return [person_mentions(text) for text in texts]


def word_sense_summary(texts: Sequence[str], examples: int = 5) -> dict[str, Any]:
    """How many descriptor matches referred to people, and examples of those that did not."""
    return _sense_summary([_senses(text) for text in texts], examples)


def _sense_summary(
    per_text: Sequence[tuple[tuple[str, bool, str], ...]], examples: int = 5
) -> dict[str, Any]:
    raw = sum(len(senses) for senses in per_text)
    person = sum(1 for senses in per_text for _, about_person, _ in senses if about_person)
    ignored = [shown for senses in per_text for _, p, shown in senses if not p][:examples]
    return {
        "matches": raw,
        "about_people": person,
        "ignored": raw - person,
        "ignored_examples": ignored,
    }


def _analyse(texts: Sequence[str]) -> tuple[list[list[str]], dict[str, Any]]:
    """Person mentions per text and the word-sense summary, from one pass over the texts."""
    per_text = [_senses(text) for text in texts]
    lists = [
        [k for k, p, _ in senses if p] + plural_mentions(text)
        for senses, text in zip(per_text, texts, strict=True)
    ]
    return lists, _sense_summary(per_text)


def bucket_shares(counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per bucket with mentions: ``{"n", "share", "ci"}``, ``ci`` the 95% Wilson interval of the
    share of the axis' mentions (so a share resting on a handful of mentions shows it)."""
    total = sum(counts.values())
    return {
        b: {"n": n, "share": n / total, "ci": list(wilson_interval(n, total))}
        for b, n in counts.items()
        if n
    }


def axis_summary(
    counts: dict[str, dict[str, int]], min_mentions: int = MIN_AXIS_MENTIONS
) -> dict[str, Any]:
    """Per mentioned axis: ``{"n", "shown", "buckets"}``; ``shown`` is False when the axis has
    fewer than ``min_mentions`` person mentions, too few to compare its buckets."""
    out = {}
    for axis, buckets in counts.items():
        n = sum(buckets.values())
        if n:
            out[axis] = {"n": n, "shown": n >= min_mentions, "buckets": bucket_shares(buckets)}
    return out


def representation_skew(
    synthetic_texts: Sequence[str],
    reference_texts: Sequence[str],
    top_k: int = 10,
    min_mentions: int = MIN_AXIS_MENTIONS,
) -> dict[str, Any]:
    """Compare how the synthetic and reference sets spread their mentions over groups.

    Returns ``{"axes": {axis: {"synthetic": dist|None, "reference": dist|None, "tvd": float|None,
    "n_synthetic": int, "n_reference": int}}, "gender": {"synthetic", "reference", "tvd"},
    "over_represented": [...], "under_represented": [...]}``. ``gender`` compares the male/female
    word distributions (terms + pronouns) of the two sets the same way.

    ``dist`` is the distribution of the axis' mentions over its buckets (None if the axis is
    never mentioned in that set; then ``tvd`` is None). ``comparable`` is False when either set
    has fewer than ``min_mentions`` mentions on the axis: its ``tvd`` is then noise, and the
    report hides it. Descriptor rates use add-one smoothing:
    ``rate_S(d) = (c_S(d) + 1) / (N_S + V)`` with ``N_S`` the set's total descriptor mentions and
    ``V`` the number of distinct descriptors; ``ratio = rate_syn / rate_ref``. Over-represented
    = highest ratios (> 1), under-represented = lowest (< 1), among descriptors seen in either set.
    """
    return _skew(
        _person_lists(synthetic_texts),
        _person_lists(reference_texts),
        synthetic_texts,
        reference_texts,
        top_k,
        min_mentions,
    )


def _skew(
    syn_lists: list[list[str]],
    ref_lists: list[list[str]],
    synthetic_texts: Sequence[str],
    reference_texts: Sequence[str],
    top_k: int,
    min_mentions: int,
) -> dict[str, Any]:
    """:func:`representation_skew` from the person mentions of each text."""
    syn_counts, ref_counts = _bucket_counts(syn_lists), _bucket_counts(ref_lists)
    axes: dict[str, Any] = {}
    for axis in syn_counts:
        ps, pr = _normalize(syn_counts[axis]), _normalize(ref_counts[axis])
        axes[axis] = {
            "synthetic": ps,
            "reference": pr,
            "tvd": tvd(ps, pr) if ps is not None and pr is not None else None,
            "n_synthetic": sum(syn_counts[axis].values()),
            "n_reference": sum(ref_counts[axis].values()),
        }
        axes[axis]["comparable"] = (
            min(axes[axis]["n_synthetic"], axes[axis]["n_reference"]) >= min_mentions
        )
    cs = Counter(k for keys in syn_lists for k in keys)
    cr = Counter(k for keys in ref_lists for k in keys)
    vocab = len(_descriptor_index()[1])
    ns, nr = sum(cs.values()), sum(cr.values())
    rows = []
    for d in set(cs) | set(cr):
        ratio = ((cs[d] + 1) / (ns + vocab)) / ((cr[d] + 1) / (nr + vocab))
        rows.append({"descriptor": d, "ratio": ratio, "synthetic": cs[d], "reference": cr[d]})
    over = sorted((r for r in rows if r["ratio"] > 1), key=lambda r: (-r["ratio"], r["descriptor"]))
    under = sorted((r for r in rows if r["ratio"] < 1), key=lambda r: (r["ratio"], r["descriptor"]))
    gs = demographic_representation(synthetic_texts)["distribution"]
    gr = demographic_representation(reference_texts)["distribution"]
    gender = {
        "synthetic": gs,
        "reference": gr,
        "tvd": tvd(gs, gr) if gs is not None and gr is not None else None,
    }
    return {
        "axes": axes,
        "gender": gender,
        "over_represented": over[:top_k],
        "under_represented": under[:top_k],
    }


# -- gender -----------------------------------------------------------------------------------
def gender_counts(texts: Iterable[str]) -> dict[str, Any]:
    """Counts of gendered words per group.

    Returns ``{"male": {"terms", "pronouns", "names", "total"}, "female": {...},
    "top_words": {"male": [(word, n), ...], "female": [...]}}``. Pronouns: he/him/his/himself and
    she/her/hers/herself; terms: the other words of the pairs (man/woman, father/mother, ...);
    names: capitalised tokens in the names lexicon. Matching is token-based (ASCII letters),
    case-insensitive for terms and pronouns.
    """
    gw = _gender_words()
    total = {g: Counter() for g in GROUPS}
    for text in texts:
        for g, c in _gender_hits(text).items():
            total[g].update(c)
    out: dict[str, Any] = {}
    for g in GROUPS:
        c = total[g]
        row = {
            kind: sum(n for w, n in c.items() if w in gw[kind][g] or w.lower() in gw[kind][g])
            for kind in ("terms", "pronouns")
        }
        row["names"] = sum(n for w, n in c.items() if w in gw["names"][g])
        row["total"] = row["terms"] + row["pronouns"] + row["names"]
        out[g] = row
    out["top_words"] = {g: total[g].most_common(10) for g in GROUPS}
    return out


def demographic_representation(texts: Iterable[str], include_names: bool = False) -> dict[str, Any]:
    """HELM demographic representation for binary gender: TVD(observed, uniform).

    The observed distribution is over male / female mentions (terms + pronouns, plus names if
    ``include_names``). Returns ``{"counts", "distribution", "tvd"}``; ``tvd`` is None (and
    ``distribution`` None) when no gendered word occurs. 0 = balanced, 0.5 = only one group.
    ``female_ci``: 95% Wilson interval of the female share (None without gendered words).
    """
    gc = gender_counts(texts)
    counts = {
        g: gc[g]["terms"] + gc[g]["pronouns"] + (gc[g]["names"] if include_names else 0)
        for g in GROUPS
    }
    n = sum(counts.values())
    return {"counts": counts, "distribution": _normalize(counts), "tvd": _tvd_from_uniform(counts),
            "female_ci": list(wilson_interval(counts["female"], n)) if n else None}  # fmt: skip


def stereotypical_associations(
    texts: Iterable[str], targets: Sequence[str] | None = None, include_names: bool = False
) -> dict[str, Any]:
    """HELM stereotypical associations: mean over targets of TVD(gender co-occurrence, uniform).

    For each text containing a target (token equal to the target or its plural ``+s``/``+es``),
    the target's co-occurrence count for each group grows by the number of that group's words in
    the text. Targets default to the bundled professions. Returns ``{"score": float|None,
    "n_targets": int, "per_target": {target: {"male", "female", "tvd"}}}`` (only targets that
    co-occur with some gendered word).
    """
    targets = list(load_gendered_terms()["professions"] if targets is None else targets)
    forms = {}
    for t in targets:
        for f in (t, t + "s", t + "es"):
            forms.setdefault(f.lower(), t)
    co = {t: dict.fromkeys(GROUPS, 0) for t in targets}
    gw = _gender_words()
    for text in texts:
        present = {forms[w.lower()] for w in _WORD.findall(text) if w.lower() in forms}
        if not present:
            continue
        hits = _gender_hits(text)
        n = {
            g: sum(c for w, c in hits[g].items() if include_names or w not in gw["names"][g])
            for g in GROUPS
        }
        for t in present:
            for g in GROUPS:
                co[t][g] += n[g]
    per = {}
    for t, c in co.items():
        d = _tvd_from_uniform(c)
        if d is not None:
            per[t] = {**c, "tvd": d}
    score = sum(r["tvd"] for r in per.values()) / len(per) if per else None
    return {"score": score, "n_targets": len(per), "per_target": per}


# -- sentiment --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _vader() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        # an ImportError, not a UsageError: the audit skips this metric when it is optional
        raise ImportError(missing_message(["vaderSentiment"], why="group_sentiment")) from exc
    return SentimentIntensityAnalyzer()


def split_sentences(text: str) -> list[str]:
    """Naive sentence split on ``.!?`` followed by whitespace, and on newlines."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if s.strip()]


def group_sentiment(texts: Iterable[str], with_counts: bool = False) -> dict[str, Any]:
    """Mean VADER compound score of sentences mentioning each ``axis -> bucket``.

    A sentence counts once per bucket it mentions (even if it mentions it twice). Only buckets
    with at least one sentence appear. With ``with_counts`` each value is
    ``{"mean": float, "n": int}`` instead of the bare mean. Needs the ``audit`` extra
    (vaderSentiment, MIT, ships its lexicon).
    """
    analyzer = _vader()
    _, where = _descriptor_index()
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for text in texts:
        for sent in split_sentences(text):
            keys = person_mentions(sent)
            if not keys:
                continue
            buckets = {ab for k in keys for ab in where[k]}
            score = analyzer.polarity_scores(sent)["compound"]
            for ab in buckets:
                sums[ab][0] += score
                sums[ab][1] += 1
    out: dict[str, Any] = defaultdict(dict)
    for (axis, bucket), (s, n) in sorted(sums.items()):
        out[axis][bucket] = {"mean": s / n, "n": int(n)} if with_counts else s / n
    return dict(out)


# -- report -----------------------------------------------------------------------------------
def bias_report(
    synthetic_texts: Sequence[str],
    reference_texts: Sequence[str] | None = None,
    sentiment: bool | None = None,
) -> dict[str, Any]:
    """All bias audits on ``synthetic_texts`` (and comparisons with ``reference_texts``).

    ``sentiment``: True = require VADER (error if missing), False = skip, None = run if
    vaderSentiment is installed, else record ``{"skipped": reason}``. HolisticBias descriptors
    count only where they refer to a person (``word_sense`` says how many matches were not);
    ``axes`` gives shares with 95% Wilson intervals and marks axes with fewer than
    ``min_axis_mentions`` mentions as not shown.
    """
    lex = load_gendered_terms()
    syn_lists, syn_sense = _analyse(synthetic_texts)
    counts = _bucket_counts(syn_lists)
    report: dict[str, Any] = {
        "n_texts": len(synthetic_texts),
        "holistic_bias": counts,
        "axes": axis_summary(counts),
        "min_axis_mentions": MIN_AXIS_MENTIONS,
        "word_sense": syn_sense,
        "gender": gender_counts(synthetic_texts),
        "demographic_representation": demographic_representation(synthetic_texts),
        "stereotypical_associations": {
            "professions": stereotypical_associations(synthetic_texts, lex["professions"]),
            "adjectives": stereotypical_associations(synthetic_texts, lex["adjectives"]),
        },
    }
    if sentiment is not False:
        try:
            report["group_sentiment"] = group_sentiment(synthetic_texts, with_counts=True)
        except ImportError as exc:
            if sentiment:
                raise
            report["group_sentiment"] = {"skipped": str(exc)}
    if reference_texts is not None:
        ref_lists, ref_sense = _analyse(reference_texts)
        report["reference"] = {
            "n_texts": len(reference_texts),
            "gender": gender_counts(reference_texts),
            "demographic_representation": demographic_representation(reference_texts),
            "word_sense": ref_sense,
        }
        report["representation_skew"] = _skew(syn_lists, ref_lists, synthetic_texts, reference_texts,
                                              10, MIN_AXIS_MENTIONS)  # fmt: skip
    return report
