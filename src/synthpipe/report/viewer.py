"""The report's data viewer: browse, search and filter kept and dropped records in the page.

A bounded, deterministic sample of the records is embedded gzip-compressed and base64-encoded
(an alphabet with no ``<``, so no record can end the script block it sits in); the browser
inflates it with its built-in ``DecompressionStream`` and renders it with ``textContent`` only
(``assets/viewer.js``). The sample keeps both kept and dropped records and a few examples of
every (step, reason) drop group, evenly spaced within each.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import numbers
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from synthpipe.data.records import DROP
from synthpipe.data.sampling import evenly_spaced

TITLE = "Browse records"
MAX_RECORDS = 5000
MIN_PER_REASON = 5  # examples of each drop reason, however rare
SIDE_FLOOR = 5  # kept and dropped each get at least 1/SIDE_FLOOR of the sample when they have it
CLIP_CHARS = 2000  # longest string value embedded; longer ones are cut with a marker
MIN_CLIP_CHARS = 500  # the byte budget clips down to this, then embeds fewer records
MAX_EMBED_BYTES = 1_500_000  # the embedded data's size in the page (base64 of gzipped JSON)
MIN_RECORDS = 100  # never fewer, whatever their size
MAX_ITEMS = 100  # longest list or dict embedded (e.g. chat turns)
MAX_DEPTH = 8
SAFE_INT = 2**53  # larger integers lose precision as JavaScript numbers: embedded as text


# --------------------------------------------------------------------------- sample


def sample_indexes(
    n_kept: int, drop_keys: Sequence[tuple[str, str]], max_records: int = MAX_RECORDS
) -> tuple[list[int], list[int]]:
    """Indexes of the kept and of the dropped records to embed: at most ``max_records`` in all,
    the same every time. ``drop_keys`` holds each dropped record's (step, reason)."""
    n_dropped = len(drop_keys)
    if n_kept + n_dropped <= max_records:
        return list(range(n_kept)), list(range(n_dropped))
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(drop_keys):
        groups[key].append(i)
    quota = _dropped_quota(n_kept, n_dropped, groups, max_records)
    dropped: list[int] = []
    for key, count in _allot(groups, quota).items():
        members = groups[key]
        dropped += [members[j] for j in evenly_spaced(len(members), count)]
    return evenly_spaced(n_kept, max_records - quota), sorted(dropped)


def _dropped_quota(n_kept: int, n_dropped: int, groups: dict, max_records: int) -> int:
    """Dropped records' share: proportional, but at least a fifth of the sample and enough for
    every reason's examples, leaving kept records at least a fifth too."""
    share = round(max_records * n_dropped / (n_kept + n_dropped))
    wanted = max(
        share, max_records // SIDE_FLOOR, sum(min(len(g), MIN_PER_REASON) for g in groups.values())
    )
    room = max_records - min(n_kept, max_records // SIDE_FLOOR)
    return max(0, min(wanted, n_dropped, room))


def _allot(groups: dict[tuple[str, str], list[int]], quota: int) -> dict[tuple[str, str], int]:
    """Records per drop group summing to ``quota``: a few of each, the rest in proportion to
    size (largest remainder; ties in group order)."""
    floor = max(1, min(MIN_PER_REASON, quota // max(1, len(groups))))
    base = {k: min(len(g), floor) for k, g in groups.items()}
    if sum(base.values()) > quota:  # more reasons than room: one each for the largest
        largest = set(sorted(groups, key=lambda k: -len(groups[k]))[:quota])
        return {k: 1 for k in groups if k in largest}
    left = quota - sum(base.values())
    rest = {k: len(g) - base[k] for k, g in groups.items()}
    total = sum(rest.values())
    if left <= 0 or total == 0:
        return base
    shares = {k: divmod(left * r, total) for k, r in rest.items()}
    out = {k: base[k] + q for k, (q, _) in shares.items()}
    spare = left - sum(q for q, _ in shares.values())
    for k in sorted(shares, key=lambda k: -shares[k][1])[:spare]:
        out[k] += 1
    return out


def _drop_key(record: dict) -> tuple[str, str]:
    info = record.get(DROP)
    info = info if isinstance(info, dict) else {}
    return str(info.get("step", "?")), str(info.get("reason", "?"))


# --------------------------------------------------------------------------- payload


def embeddable(value: Any, clip: int = CLIP_CHARS, depth: int = 0) -> Any:
    """``value`` as plain JSON data the browser can parse: long strings and lists clipped with
    a marker, non-finite floats and huge integers as text, other objects as their text."""
    if value is None or isinstance(value, bool | str):
        return _clip(value, clip) if isinstance(value, str) else value
    if isinstance(value, numbers.Integral):
        return int(value) if abs(int(value)) < SAFE_INT else str(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return _clip(json.dumps(value, ensure_ascii=False, default=str), clip)
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): embeddable(v, clip, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"[clipped: {len(items) - MAX_ITEMS:,} more keys]"
        return out
    if isinstance(value, list | tuple):
        out_list = [embeddable(v, clip, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"[clipped: {len(value) - MAX_ITEMS:,} more items]")
        return out_list
    return _clip(str(value), clip)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [clipped: {len(text):,} chars in all]"


def _payload_json(kept: list[dict], dropped: list[dict], meta: dict, clip: int) -> bytes:
    data = {
        **meta,
        "clip": clip,
        "kept": [embeddable(r, clip) for r in kept],
        "dropped": [embeddable(r, clip) for r in dropped],
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", errors="replace")  # a lone surrogate becomes "?"


def encode_payload(
    kept: list[dict], dropped: list[dict], meta: dict, max_bytes: int = MAX_EMBED_BYTES
) -> tuple[str, int]:
    """(base64 of the gzipped JSON, the clip used): strings are clipped at ``CLIP_CHARS``, or
    shorter (never below ``MIN_CLIP_CHARS``) when that keeps the base64 within ``max_bytes``."""
    clip = CLIP_CHARS
    for _ in range(4):  # the size shrinks about in proportion to the clip: a few steps reach it
        raw = _payload_json(kept, dropped, meta, clip)
        # level 6: within 1% of level 9 on text, at half the time; mtime=0: same run, same bytes
        data = base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")
        if len(data) <= max_bytes or clip <= MIN_CLIP_CHARS:
            break
        clip = max(MIN_CLIP_CHARS, int(clip * max_bytes / len(data) * 0.9))
    return data, clip


# --------------------------------------------------------------------------- section


@cache
def _asset(name: str) -> str:
    text = (files("synthpipe.report") / "assets" / name).read_text(encoding="utf-8")
    if "</" in text or "<!--" in text:  # would end or confuse the inline block it goes into
        raise ValueError(f"report asset {name} must not contain '</' or '<!--'")
    return text


def viewer_section(
    kept: list[dict],
    dropped: list[dict],
    *,
    text_field: str = "text",
    label_field: str = "label",
    max_records: int = MAX_RECORDS,
    totals: tuple[int, int] | None = None,
) -> tuple[str, str]:
    """("Browse records", html) for the run report: a searchable, filterable, paginated view of
    an embedded sample of at most ``max_records`` records. ``totals`` are the run's kept and
    dropped counts when ``kept`` / ``dropped`` are themselves a sample of the run."""
    kept, dropped = list(kept), list(dropped)
    if not kept and not dropped:
        return TITLE, '<p class="muted">No records to browse.</p>'
    meta = {"text_field": text_field, "label_field": label_field}
    ki, di, data, clip = _embed(kept, dropped, meta, max_records)
    n_kept, n_dropped = totals or (len(kept), len(dropped))
    return TITLE, (
        f"<style>{_asset('viewer.css')}</style>"
        f'<div class="spv" data-state="loading">'
        f'<p class="muted spv-note">{_note(len(ki), len(di), n_kept, n_dropped, clip)}</p>'
        '<noscript><p class="muted">The record viewer needs JavaScript.</p></noscript>'
        f'<script type="application/octet-stream" class="spv-data">{data}</script>'
        f"</div><script>{_asset('viewer.js')}</script>"
    )


def _embed(
    kept: list[dict], dropped: list[dict], meta: dict, max_records: int
) -> tuple[list[int], list[int], str, int]:
    """(kept indexes, dropped indexes, data, clip): the sample shrinks when even clipped
    values overflow the byte budget, so the page's size stays bounded."""
    keys = [_drop_key(r) for r in dropped]
    while True:
        ki, di = sample_indexes(len(kept), keys, max_records)
        data, clip = encode_payload(
            [kept[i] for i in ki], [dropped[i] for i in di], meta, MAX_EMBED_BYTES
        )
        n = len(ki) + len(di)
        if len(data) <= MAX_EMBED_BYTES or n <= MIN_RECORDS:
            return ki, di, data, clip
        max_records = max(MIN_RECORDS, int(n * MAX_EMBED_BYTES / len(data) * 0.9))


def _note(k: int, d: int, n_kept: int, n_dropped: int, clip: int) -> str:
    total = n_kept + n_dropped
    if k + d >= total:
        what = f"All {total:,} records are embedded ({k:,} kept, {d:,} dropped)."
    else:
        what = (
            f"Embedded: an evenly spaced sample of {k + d:,} of {total:,} records ({k:,} of "
            f"{n_kept:,} kept, {d:,} of {n_dropped:,} dropped, with examples of every drop reason)."
        )
    return escape(f"{what} Values longer than {clip:,} characters are clipped. Press / to search.")
