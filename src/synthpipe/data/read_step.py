"""The ``read`` source step: records from a file or HF dataset directory into a pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import model_validator

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.readers import read_records
from synthpipe.data.records import Batch
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import SourceStep, StepConfig, StepContext


class ReadConfig(StepConfig):
    path: str  # file or HF dataset dir; "bundled:<relative>" for data shipped with synthpipe
    format: str | None = None  # default: from the path's suffix
    text_field: str = "text"  # name in the file of the field that becomes `text`
    label_field: str | None = None  # if set, this field becomes `label`
    id_field: str | None = "id"  # field holding record ids; missing ids become <stem>-<line>
    fields: dict[str, str] = {}  # extra canonical -> source name mappings
    require_text: bool = True  # quarantine records without a string `text`
    limit: int | None = None  # read at most this many valid records

    @model_validator(mode="after")
    def _no_duplicate_mappings(self) -> ReadConfig:
        for name, option in (("text", "text_field"), ("label", "label_field")):
            if name in self.fields:
                raise ValueError(f"map {name!r} with {option}, not fields")
        return self


@register_step("read")
class ReadRecords(SourceStep):
    """Read records from JSONL(.gz), Parquet, CSV or a saved HF dataset directory.

    Output columns: ``text`` (from `text_field`), ``label`` (from `label_field`, if set),
    ``id``, ``_lineage`` (source file and line), plus every other column of the input as is.
    Malformed records go to the run's quarantine, or fail the run with ``--strict``.
    """

    Config = ReadConfig
    config: ReadConfig

    def path(self) -> Path:
        return resolve_data_path(self.config.path)

    def input_files(self) -> list[Path]:
        return [self.path()]

    def field_map(self) -> dict[str, str]:
        cfg = self.config
        mapping = {**cfg.fields, "text": cfg.text_field}
        if cfg.label_field is not None:
            mapping["label"] = cfg.label_field
        return mapping

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        yield from read_records(
            self.path(),
            format=cfg.format,
            fields=self.field_map(),
            required=["text"] if cfg.require_text else [],
            types={"text": str} if cfg.require_text else None,
            quarantine=ctx.quarantine,
            strict=ctx.strict,
            batch_size=ctx.batch_size,
            limit=cfg.limit,
            id_field=cfg.id_field,
        )
