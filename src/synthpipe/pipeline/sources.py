"""The ``read`` source step: records from a file or HF dataset directory into a pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from synthpipe.data.formats import detect_format
from synthpipe.data.paths import resolve_data_path
from synthpipe.data.readers import SHARDABLE, peek_columns, read_batch, read_records, read_shard
from synthpipe.data.records import ID, Batch, Record
from synthpipe.data.shards import (
    WHOLE,
    Shard,
    ShardBatch,
    byte_pieces,
    count_lines,
    line_shards,
    row_shards,
)
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import Measure, SourceStep, StepConfig, StepContext


class ReadConfig(StepConfig):
    path: str = Field(description='file or HF dataset dir; "bundled:<relative>" for data shipped with synthpipe')
    format: str | None = Field(
        None,
        description="jsonl, jsonl.gz, parquet, csv, hf, or distilabel (a dataset distilabel made: "
        "its columns renamed to synthpipe's); default from the suffix",
    )
    subset: str | None = Field(None, description="distilabel: the Distiset subset (config) to read")
    text_field: str = Field("text", description="field in the file that becomes `text`")
    label_field: str | None = Field(None, description="field in the file that becomes `label`, if any")
    id_field: str | None = Field("id", description="field holding ids; missing ids become <stem>-<line>")
    fields: dict[str, str] = Field({}, description="extra canonical -> source field mappings")
    require_text: bool = Field(True, description="quarantine records without a string `text`")
    limit: int | None = Field(None, ge=1, description="read at most this many valid records")
    keep_field_names: bool = Field(
        False, description="validate `text_field` but keep every field under its own name (no renaming)"
    )

    @model_validator(mode="after")
    def _no_duplicate_mappings(self) -> ReadConfig:
        for name, option in (("text", "text_field"), ("label", "label_field")):
            if name in self.fields:
                raise ValueError(f"map {name!r} with {option}, not fields")
        return self


@register_step("read")
class ReadRecords(SourceStep):
    """Read records from JSONL(.gz), Parquet, CSV, a saved HF dataset directory, or a dataset
    distilabel made (``format: distilabel``).

    Malformed records go to the run's quarantine, or fail the run with ``--strict``; they are
    never dropped records.

    Input columns: none (a source).
    Output columns: ``text`` (from `text_field`), ``label`` (from `label_field`, if set), the
    `fields` mappings, ``id``, ``_lineage`` (source file and line), plus every other column of
    the input as is (with `keep_field_names`, every column under its own name).
    Drop reasons: none.
    References: none: a synthpipe technique.
    """

    Config = ReadConfig
    config: ReadConfig
    replayable = True  # reading the file again is cheaper than checkpointing its records
    peek_rows: ClassVar[int] = 1000  # records read when a recipe is loaded, to learn the columns

    def path(self, ctx: StepContext | None = None) -> Path:
        """The input; a relative path is taken from the run's working dir (a worker's differs)."""
        return resolve_data_path(self.config.path, ctx.base_dir if ctx is not None else None)

    def input_files(self) -> list[Path]:
        return [self.path()]

    def text_name(self) -> str:
        """The name the text field has in the records this step yields."""
        return self.config.text_field if self.config.keep_field_names else "text"

    def field_map(self) -> dict[str, str]:
        cfg = self.config
        if cfg.keep_field_names:
            return {**cfg.fields, cfg.text_field: cfg.text_field}
        mapping = {**cfg.fields, "text": cfg.text_field}
        if cfg.label_field is not None:
            mapping["label"] = cfg.label_field
        return mapping

    def output_columns(self) -> set[str] | None:
        """The columns of the file's first records, renamed as `read` renames them."""
        try:
            cfg = self.config
            return peek_columns(self.path(), format=cfg.format, fields=self.field_map(), rows=self.peek_rows)
        except Exception:  # unreadable here: the run reports it; the column check just stops
            return None

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        yield from read_records(self.path(ctx), limit=cfg.limit, subset=cfg.subset, **self._options(ctx))

    def _options(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": cfg.format,
            "fields": self.field_map(),
            "required": [self.text_name()] if cfg.require_text else [],
            "types": {self.text_name(): str} if cfg.require_text else None,
            "quarantine": ctx.quarantine,
            "strict": ctx.strict,
            "batch_size": ctx.batch_size,
            "id_field": cfg.id_field,
        }

    # -- shards: JSONL cut at line starts, Parquet by rows; other formats are read whole -------
    def _shardable(self, ctx: StepContext) -> bool:
        cfg = self.config
        path = self.path(ctx)
        if cfg.limit is not None or cfg.subset is not None or path.is_dir():
            return False  # a limit counts valid records from the start
        return (cfg.format or detect_format(path)) in SHARDABLE

    def plan_shards(self, ctx: StepContext, want: int, measure: Measure) -> list[Shard]:
        if not self._shardable(ctx):
            return [WHOLE]
        path, size = self.path(ctx), max(1, ctx.batch_size)
        if (self.config.format or detect_format(path)) == "parquet":
            import pyarrow.parquet as pq

            return row_shards(pq.ParquetFile(path).metadata.num_rows, size, want)
        pieces = byte_pieces(path, want)
        return line_shards(pieces, measure(count_lines, [(str(path), s, e) for s, e in pieces]), size)

    def read_shard(self, shard: Shard, ctx: StepContext, duplicates: dict[int, str] | None = None) -> Iterator[ShardBatch]:
        """`duplicates`: lines whose ids repeat an earlier shard's (quarantined as in a whole read)."""
        if shard.count is None:
            yield from super().read_shard(shard, ctx)
            return
        yield from read_shard(self.path(ctx), shard, duplicates=duplicates, **self._options(ctx))

    def read_batch(self, index: int, at: dict[str, Any], ctx: StepContext) -> Batch | None:
        if "line" not in at or not self._shardable(ctx):  # not found by a sharded read
            return None
        options = {**self._options(ctx), "quarantine": None, "strict": False}  # reported when first read
        options.pop("batch_size")
        return read_batch(self.path(ctx), index, at, ctx.batch_size, **options).records


class RecordsConfig(StepConfig):
    records: list[dict[str, Any]] = Field(min_length=1, description="the records themselves (ids optional)")


@register_step("records")
class FromRecords(SourceStep):
    """Records given inline (a recipe list, Python dicts, or an in-memory HF ``Dataset``).

    The records are part of the config, so they enter the fingerprint: changing them
    recomputes the run.

    Input columns: none (a source).
    Output columns: every field of the given records, and ``id`` (``records-<index>`` when a
    record has none).
    Drop reasons: none.
    References: none: a synthpipe technique.
    """

    Config = RecordsConfig
    config: RecordsConfig
    replayable = True

    @classmethod
    def from_dataset(cls, dataset: Any) -> FromRecords:
        """Wrap an in-memory HF ``datasets.Dataset`` (or any iterable of dicts)."""
        return cls(records=[dict(row) for row in dataset])

    def expected_count(self) -> int:
        return len(self.config.records)

    def output_columns(self) -> set[str]:
        return {ID}.union(*self.config.records)

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        for b in range(-(-len(self.config.records) // ctx.batch_size)):
            yield self.read_batch(b, {}, ctx)

    def plan_shards(self, ctx: StepContext, want: int, measure: Measure) -> list[Shard]:
        return row_shards(len(self.config.records), max(1, ctx.batch_size), want)

    def read_batch(self, index: int, at: dict[str, Any], ctx: StepContext) -> Batch:
        start = index * ctx.batch_size
        return [_with_id(dict(r), start + j) for j, r in enumerate(self.config.records[start : start + ctx.batch_size])]


def _with_id(record: Record, index: int) -> Record:
    if record.get(ID) in (None, ""):
        record[ID] = f"records-{index:06d}"
    return record
