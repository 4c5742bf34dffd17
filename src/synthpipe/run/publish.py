"""``synthpipe publish``: a run directory as a Hugging Face Hub dataset repository.

The folder (default ``RUN_DIR/publish/``) holds what the Hub shows and loads:

- ``data/train-00000-of-0000N.parquet``: the kept records, ``shard_rows`` per file, one schema
  for all shards (built over every record, then sliced, so no shard disagrees on a type).
  Columns: every field of the records, ``id`` always; ``_lineage`` stays, as JSON text (its
  shape differs between generators, and a JSON column keeps every record's lineage exact);
  ``_drop`` goes (it is null for every kept record). Other ``_``-prefixed fields go too: they
  are the pipeline's bookkeeping, not data.
- ``README.md``: the dataset card (:mod:`synthpipe.report.card`) with Hub front matter whose
  ``configs`` point at ``data/train-*.parquet``.
- ``recipe.yaml``: the recipe as run, every path made relative (or cut to its file name).
- ``ledger_summary.json``: per step, records in, kept and dropped with the reasons; quarantine.
- ``report.html``: the run's report, when there is one, with the machine's paths removed.

The folder is checked before anything leaves the machine: the card's metadata (as
``huggingface_hub`` parses it, and against the Hub's value lists), the ``configs`` globs
against the shards, every shard read back, the rows against the run's kept count, and no
path of this machine in any text file. ``--dry-run`` stops there; otherwise the folder is
uploaded with ``huggingface_hub`` (a token from ``HF_TOKEN`` or ``huggingface-cli login``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from synthpipe.data.arrow import JSON_COLUMNS_KEY
from synthpipe.data.hub_table import hub_table
from synthpipe.data.provenance import absolute_paths, portable
from synthpipe.errors import SynthpipeError, UsageError
from synthpipe.importing import require

log = logging.getLogger(__name__)

DEFAULT_SHARD_ROWS = 100_000
DATA_GLOB = "data/train-*.parquet"
# the Hub's repo-id rule (huggingface_hub.utils.validate_repo_id), with the namespace required
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


@dataclass
class Published:
    """What ``publish`` wrote (and uploaded): the folder, its files, rows, and what it found."""

    folder: Path
    repo_id: str
    files: dict[str, int]  # path in the repository -> bytes
    rows: int
    shards: int
    license: str
    license_flagged: bool
    warnings: list[str] = field(default_factory=list)
    url: str | None = None  # set once uploaded

    def describe(self) -> str:
        head = (f"{'would upload' if self.url is None else 'uploaded'} {len(self.files)} files "
                f"({_size(sum(self.files.values()))}) to datasets/{self.repo_id}: {self.rows:,} rows "
                f"in {self.shards} Parquet shard{'s' * (self.shards != 1)}; card metadata valid; licence {self.license}")  # fmt: skip
        lines = [head, *(f"  {name}  {_size(n)}" for name, n in self.files.items())]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append(f"folder: {self.folder}" + (f"\nurl: {self.url}" if self.url else ""))
        return "\n".join(lines)


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a valid ``ORG/NAME`` Hub dataset id, else a UsageError saying why."""
    bad = not _REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id or repo_id.endswith((".git", "."))
    if bad:
        raise UsageError(
            f"--repo-id {repo_id!r} is not a Hub dataset id: write ORG/NAME (letters, digits, '-', '_', '.'; "
            "no '--' or '..'; at most 96 characters each), e.g. my-org/my-dataset"
        )
    return repo_id


def publish(
    run_dir: str | Path,
    repo_id: str,
    *,
    out: str | Path | None = None,
    dry_run: bool = False,
    private: bool = False,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    license: str | None = None,
    token: str | None = None,
) -> Published:
    """Write the Hub folder of a finished run, check it, and upload it unless `dry_run`."""
    check_repo_id(repo_id)
    if license is not None:
        _check_license(license)
    if shard_rows < 1:
        raise UsageError(f"--shard-rows must be at least 1, got {shard_rows}")
    require("huggingface_hub", extra="hub", why="synthpipe publish")
    result = write_folder(run_dir, repo_id, out=out, shard_rows=shard_rows, license=license)
    if not dry_run:
        result.url = upload(result.folder, repo_id, private=private, token=token)
    return result


def write_folder(
    run_dir: str | Path, repo_id: str, *, out: str | Path | None = None, shard_rows: int = DEFAULT_SHARD_ROWS,
    license: str | None = None,
) -> Published:
    """Write and check the folder (no network). Raises UsageError naming each problem found."""
    from synthpipe.run.api import RunResult

    run = RunResult(run_dir)
    root = run.run_dir.resolve()
    folder = Path(out) if out is not None else root / "publish"
    if folder.resolve() == root or root.is_relative_to(folder.resolve()):
        raise UsageError(f"--out {folder} would overwrite the run directory: choose a folder of its own")
    _fresh(folder)
    table = hub_table(run.kept)
    shards = write_shards(table, folder / "data", shard_rows)
    recipe, base_dir = _recipe(run)
    card, choice = _card(run, recipe, base_dir, table, repo_id, license)
    (folder / "README.md").write_text(card, encoding="utf-8")
    (folder / "recipe.yaml").write_text(
        yaml.safe_dump(portable(recipe, base_dir), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    (folder / "ledger_summary.json").write_text(json.dumps(ledger_summary(run.metrics), indent=2) + "\n", encoding="utf-8")
    machine_paths = _machine_paths(run, base_dir, recipe)
    if (run.run_dir / "report.html").is_file():
        html = (run.run_dir / "report.html").read_text(encoding="utf-8")
        (folder / "report.html").write_text(_strip_paths(html, machine_paths), encoding="utf-8")
    problems = check_folder(folder, run.metrics.get("kept", 0), machine_paths)
    if problems:
        raise UsageError(f"the folder {folder} is not ready for the Hub:\n" + "\n".join(f"- {p}" for p in problems))
    warnings = [f"licence `other`: {choice.reason}"] if choice.flagged else []
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    return Published(folder, repo_id, files, table.num_rows, len(shards), choice.id, choice.flagged, warnings)


def write_shards(table: pa.Table, data_dir: Path, shard_rows: int) -> list[Path]:
    """``train-00000-of-0000N.parquet`` files of at most `shard_rows` rows (one, even when empty)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    n = max(1, -(-table.num_rows // shard_rows))
    paths = []
    for i in range(n):
        path = data_dir / f"train-{i:05d}-of-{n:05d}.parquet"
        pq.write_table(table.slice(i * shard_rows, shard_rows), path)
        paths.append(path)
    return paths


def ledger_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per step: records in, kept, dropped and why; the run's totals and quarantine."""
    steps = [
        {k: s.get(k) for k in ("name", "step", "kind", "in", "kept", "dropped", "reasons")}
        for s in metrics.get("steps") or []
    ]
    return {
        "kept": metrics.get("kept"),
        "dropped": metrics.get("dropped"),
        "quarantined": metrics.get("quarantined", 0),
        "quarantine_reasons": metrics.get("quarantine_reasons") or {},
        "steps": steps,
    }


def check_folder(folder: Path, expected_rows: int, machine_paths: list[str] = ()) -> list[str]:
    """Why the Hub would refuse or mis-read `folder` (empty when it is ready)."""
    from synthpipe.report.hub_metadata import card_problems

    readme = folder / "README.md"
    if not readme.is_file():
        return ["README.md (the dataset card) is missing"]
    shards = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*.parquet"))
    problems = card_problems(readme.read_text(encoding="utf-8"), shards)
    rows, ids, columns = 0, set(), None
    for name in shards:
        try:
            table = pq.read_table(folder / name)
        except Exception as exc:  # any Arrow/IO error: the shard is unreadable
            problems.append(f"{name} cannot be read back: {exc}")
            continue
        rows += table.num_rows
        columns = columns or table.schema
        if not table.schema.equals(columns):
            problems.append(f"{name} has another schema than the first shard")
        if "id" in table.column_names:
            ids.update(table.column("id").to_pylist())
    if not shards:
        problems.append("no Parquet shard under data/")
    if rows != expected_rows:
        problems.append(f"the shards hold {rows:,} rows, the run kept {expected_rows:,}")
    if columns is not None and "id" not in columns.names:
        problems.append("the records have no `id` column")
    elif shards and len(ids) != rows:
        problems.append(f"ids are not unique: {rows - len(ids):,} repeats")
    for path in folder.rglob("*"):
        if path.suffix in (".md", ".yaml", ".json", ".html"):
            text = path.read_text(encoding="utf-8")
            problems += [f"{path.name} names a path of this machine: {p}" for p in machine_paths if p in text]
    return problems


def upload(folder: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create the dataset repository (if needed) and upload `folder`; returns its URL."""
    require("huggingface_hub", extra="hub", why="synthpipe publish")
    token = token or _token()
    if not token:
        raise UsageError(
            f"no Hugging Face token: set HF_TOKEN or run `huggingface-cli login`, then publish again "
            f"(the folder is ready at {folder}; `--dry-run` checks it without uploading)"
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                          commit_message="Upload dataset made with synthpipe")  # fmt: skip
    except Exception as exc:  # network, auth or Hub errors: say which, keep the folder
        raise SynthpipeError(
            f"upload to datasets/{repo_id} failed ({_why(exc)}): {type(exc).__name__}: {exc}. "
            f"The folder stays at {folder}; publish again when fixed"
        ) from exc
    return f"https://huggingface.co/datasets/{repo_id}"


def _token() -> str | None:
    """The Hub token of this machine (HF_TOKEN, else the one `huggingface-cli login` saved)."""
    from huggingface_hub import get_token

    return get_token()


def _why(exc: BaseException) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return "the Hub refused the token: check it can write to this namespace"
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) or "connect" in type(exc).__name__.lower():
        return "the Hub could not be reached: no network?"
    return "the Hub refused the upload"


def _check_license(license: str) -> None:
    from synthpipe.report.hub_metadata import HUB_LICENSES

    if license not in HUB_LICENSES:
        raise UsageError(
            f"--license {license!r} is not a Hub licence id; use one of e.g. mit, apache-2.0, cc-by-4.0, "
            "cc-by-sa-4.0, cc0-1.0, other (list: https://huggingface.co/docs/hub/repositories-licenses)"
        )


def _fresh(folder: Path) -> None:
    """An empty folder: a previous publish's files are replaced, anything else is refused."""
    if folder.exists():
        ours = {"data", "README.md", "recipe.yaml", "ledger_summary.json", "report.html"}
        strange = [p.name for p in folder.iterdir() if p.name not in ours]
        if strange:
            raise UsageError(f"{folder} holds other files ({', '.join(sorted(strange)[:5])}): choose an empty --out")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _recipe(run) -> tuple[dict, Path | None]:
    path = run.run_dir / "recipe.yaml"
    recipe = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    original = (run.metrics.get("run") or {}).get("recipe")
    return recipe or {}, Path(original).resolve().parent if original else None


def _card(run, recipe: dict, base_dir: Path | None, table: pa.Table, repo_id: str, license: str | None):
    from synthpipe.data.provenance import recipe_sources
    from synthpipe.report.card import dataset_card
    from synthpipe.report.card_metadata import choose_license

    audits = run.metrics.get("audit") or {}
    audit = next(reversed(audits.values())) if audits else {"inputs": {"data": "kept records"}}
    sources = recipe_sources(recipe, base_dir)
    sample = run.kept[: 5000]
    encoded = json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
    card = dataset_card(audit, run.metrics, sample, recipe=recipe, sources=sources, license=license, repo_id=repo_id,
                        data_files=DATA_GLOB, schema=table.schema, json_columns=encoded, base_dir=base_dir)  # fmt: skip
    return card, choose_license(sources, license)


def _machine_paths(run, base_dir: Path | None, recipe: dict) -> list[str]:
    """Paths of this machine that must not be published: the run directory, the recipe's folder,
    the folders of the absolute paths the recipe names (data files, models, caches)."""
    paths = {str(run.run_dir.resolve()), str(run.run_dir.absolute())}
    for value in absolute_paths(recipe):
        path = Path(value).expanduser()
        paths |= {str(path), str(path.parent)}
    recipe = (run.metrics.get("run") or {}).get("recipe")
    if recipe:
        paths.add(str(Path(recipe).resolve().parent))
    if base_dir is not None:
        paths.add(str(base_dir))
    # a one-level folder (/tmp) is too short to find safely in a page's inline data
    return sorted((p for p in paths if len(Path(p).parts) >= 3), key=len, reverse=True)


def _strip_paths(text: str, machine_paths: list[str]) -> str:
    """Exact machine paths replaced (longest first) by what is left below them: never a regex over
    HTML, whose inline data may hold any characters."""
    for p in machine_paths:
        text = text.replace(p + "/", "").replace(p, ".")
    return text


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


__all__ = ["DATA_GLOB", "DEFAULT_SHARD_ROWS", "Published", "check_folder", "check_repo_id",
           "ledger_summary", "publish", "upload", "write_folder", "write_shards"]  # fmt: skip
