"""Human review labels: the append-only ``RUN_DIR/reviews.jsonl``, the verdicts it holds, and
how far reviewers agree.

One JSON object per line, written whole and fsync'd before the writer returns, so a crash
loses at most the label being written, never one already confirmed::

    {"reviewer": str, "time": ISO-8601 UTC, "record_id": str, "status": "kept"|"dropped",
     "verdict": "accept"|"reject"|"skip", "edit": {field: new value} | null,
     "note": str | null, "queue": str}

The latest line per (reviewer, record_id) wins: a reviewer changes their mind by labelling
again. When reviewers disagree about a record, a rerun applies the rule `decide`: **reject
wins** (one reviewer's latest reject drops the record: a person who saw a problem is taken at
their word), and edits are applied field by field in time order (the latest edit of a field
wins). A ``skip`` is no verdict.

Agreement (shown in the report): raw agreement (share of pairs of reviewers that gave the
same verdict on a record), Cohen's kappa for two reviewers on their shared records (Cohen
1960), Fleiss' kappa for three or more (Fleiss 1971, over the records every one of them
labelled). Only accept/reject verdicts count.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from synthpipe.errors import DataError

FILE = "reviews.jsonl"
VERDICTS = ("accept", "reject", "skip")
STATUSES = ("kept", "dropped")
_LOCK = threading.Lock()  # one writer at a time in this process: lines never interleave


def reviews_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILE


def make_review(
    record_id: str, verdict: str, *, reviewer: str, status: str, queue: str = "random",
    edit: dict | None = None, note: str | None = None,
) -> dict:  # fmt: skip
    """One label, checked: a bad verdict or status fails here, not at the next rerun."""
    review = {"reviewer": reviewer, "time": datetime.now(UTC).isoformat(), "record_id": str(record_id),
              "status": status, "verdict": verdict, "edit": edit or None, "note": note or None, "queue": queue}  # fmt: skip
    _check(review, "label")
    return review


def append_review(run_dir: str | Path, review: dict) -> None:
    """Append one label line and fsync it (and, for a new file, its directory)."""
    _check(review, "label")
    path = reviews_path(run_dir)
    line = (json.dumps(review, ensure_ascii=False) + "\n").encode()
    with _LOCK:
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # and one process: two apps on one run never interleave
            os.write(fd, line)  # one write of the whole line on an O_APPEND file
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def read_reviews(run_dir: str | Path) -> list[dict]:
    """Every label in file order; [] without a file. A malformed line fails naming its number
    (a half-written last line, from a crash mid-write, is skipped: it was never confirmed)."""
    path = reviews_path(run_dir)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            review = json.loads(line)
        except ValueError as exc:
            if number == len(lines) and not text.endswith("\n"):
                continue  # the torn tail of a crash
            raise DataError(f"{path}: line {number} is not JSON ({exc})") from None
        _check(review, f"{path}: line {number}")
        out.append(review)
    return out


def _check(review: Any, where: str) -> None:
    if not isinstance(review, dict):
        raise DataError(f"{where}: a label must be a JSON object")
    for key in ("reviewer", "record_id", "time"):
        if not isinstance(review.get(key), str) or not review[key]:
            raise DataError(f"{where}: {key!r} must be a non-empty string")
    if review.get("verdict") not in VERDICTS:
        raise DataError(f"{where}: verdict must be one of {', '.join(VERDICTS)}, not {review.get('verdict')!r}")
    if review.get("status") not in STATUSES:
        raise DataError(f"{where}: status must be kept or dropped, not {review.get('status')!r}")
    if review.get("edit") is not None and not isinstance(review["edit"], dict):
        raise DataError(f"{where}: edit must be an object {{field: new value}} or null")


def latest_verdicts(reviews: list[dict]) -> dict[str, dict[str, dict]]:
    """{record_id: {reviewer: their latest label}}: later lines replace earlier ones."""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for review in reviews:
        out[review["record_id"]][review["reviewer"]] = review
    return dict(out)


def labels_by_record(reviews: list[dict]) -> dict[str, list[dict]]:
    """Every label of each record, oldest first (the app shows them all)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for review in reviews:
        out[review["record_id"]].append(review)
    return dict(out)


# -- what a rerun does -----------------------------------------------------------------------
def decide(reviews: list[dict]) -> dict[str, dict]:
    """{record_id: {"reject": label | None, "edits": {field: (value, label)}}}: reject wins over
    accept; per field the latest edit in time wins (edits of a rejected record are kept too,
    they show in the ledger's record)."""
    edits: dict[str, dict[str, tuple[Any, dict]]] = defaultdict(dict)
    for review in sorted(reviews, key=lambda r: r["time"]):
        for field, value in (review.get("edit") or {}).items():
            edits[review["record_id"]][field] = (value, review)
    out: dict[str, dict] = {}
    for record_id, by_reviewer in latest_verdicts(reviews).items():
        rejects = [r for r in by_reviewer.values() if r["verdict"] == "reject"]
        reject = max(rejects, key=lambda r: r["time"]) if rejects else None
        if reject or edits.get(record_id):
            out[record_id] = {"reject": reject, "edits": edits.get(record_id, {})}
    return out


# -- agreement ---------------------------------------------------------------------------------
def agreement(reviews: list[dict]) -> dict:
    """Raw agreement and kappa over accept/reject verdicts of records labelled by 2+ reviewers."""
    table = {rid: {who: r["verdict"] for who, r in by.items() if r["verdict"] != "skip"}
             for rid, by in latest_verdicts(reviews).items()}  # fmt: skip
    reviewers = sorted({who for by in table.values() for who in by})
    shared = {rid: by for rid, by in table.items() if len(by) >= 2}
    out: dict[str, Any] = {"reviewers": len(reviewers), "shared_records": len(shared),
                           "raw_agreement": raw_agreement(list(shared.values())), "kappa": None, "kappa_kind": None}  # fmt: skip
    if len(reviewers) == 2:
        a, b = reviewers
        pairs = [(by[a], by[b]) for by in shared.values()]
        out.update(kappa=cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs]), kappa_kind="cohen")
    elif len(reviewers) > 2:
        full = [list(by.values()) for by in shared.values() if len(by) == len(reviewers)]
        out.update(kappa=fleiss_kappa(full), kappa_kind="fleiss", fleiss_records=len(full))
    return out


def raw_agreement(rows: list[dict]) -> float | None:
    """Share of reviewer pairs, over all records, that gave the same verdict."""
    same = total = 0
    for by in rows:
        for x, y in combinations(list(by.values()), 2):
            same += x == y
            total += 1
    return round(same / total, 4) if total else None


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """(p_o - p_e) / (1 - p_e) for two raters; None without data, 1.0 when both always agree
    on a single category (p_e = 1)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else 0.0
    return round((observed - expected) / (1 - expected), 4)


def fleiss_kappa(rows: list[list[str]]) -> float | None:
    """Fleiss' kappa: each row the verdicts of the same number m >= 2 of raters on one item."""
    if not rows or len(rows[0]) < 2:
        return None
    m, n = len(rows[0]), len(rows)
    counts = [Counter(row) for row in rows]
    categories = {k for c in counts for k in c}
    p_bar = sum((sum(v * v for v in c.values()) - m) / (m * (m - 1)) for c in counts) / n
    p_e = sum((sum(c[k] for c in counts) / (n * m)) ** 2 for k in categories)
    if p_e == 1:
        return 1.0 if p_bar == 1 else 0.0
    return round((p_bar - p_e) / (1 - p_e), 4)


def review_summary(reviews: list[dict], rejected: int = 0) -> dict:
    """metrics.json ``reviews``: counts, what the rerun applied (`rejected`: records the
    review step dropped; `edit_labels`: records with an edit label), and the agreement."""
    latest = latest_verdicts(reviews)
    edited = sum(1 for d in decide(reviews).values() if d["edits"])
    verdicts = Counter(r["verdict"] for by in latest.values() for r in by.values())
    return {
        "labels": len(reviews),
        "records": len(latest),
        "reviewers": sorted({r["reviewer"] for r in reviews}),
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        "applied": {"human_rejected": rejected, "edit_labels": edited},
        "rule": "reject wins: one reviewer's latest reject drops a kept record; the latest edit of a field wins",
        "agreement": agreement(reviews),
    }
