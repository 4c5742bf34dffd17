"""The Hugging Face Hub's dataset-card metadata: allowed values, and the checks the Hub runs on push.

``huggingface_hub`` parses a card offline (:class:`huggingface_hub.DatasetCard`) but leaves the
value checks to the server, so a card it accepts can still be refused or mis-shown after upload.
:func:`card_problems` runs both: the library's parse, then these lists.

Sources of the lists (copy them again when the Hub adds values):

- licence ids: huggingface/hub-docs ``docs/hub/repositories-licenses.md`` (region "licenses",
  commit 008d54d08fd9d5d05ed2840bebb0b61111326a15);
- task categories: huggingface/huggingface.js ``packages/tasks/src/pipelines.ts``
  (``PIPELINE_TYPES``, commit 0057f4042b57b833d296ed4cf1c76cfd6619d00d);
- size categories: ``huggingface_hub.DatasetCardData``'s documentation of ``size_categories``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from synthpipe.importing import require

_LICENSE_IDS = """
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown other
"""
HUB_LICENSES = frozenset(_LICENSE_IDS.split())

_TASKS = """
biology text-classification token-classification table-question-answering question-answering
zero-shot-classification translation summarization feature-extraction text-generation
text2text-generation fill-mask sentence-similarity text-to-speech text-to-audio
automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
voice-activity-detection depth-estimation image-classification object-detection
image-segmentation text-to-image image-to-text image-to-image image-to-video
unconditional-image-generation video-classification reinforcement-learning robotics
tabular-classification tabular-regression tabular-to-text table-to-text multiple-choice
text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
visual-question-answering document-question-answering zero-shot-image-classification graph-ml
mask-generation zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction
video-text-to-text keypoint-detection visual-document-retrieval any-to-any other
"""
HUB_TASK_CATEGORIES = frozenset(_TASKS.split())

SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M",
                   "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T")  # fmt: skip

# ISO 639-1/2/3 codes (two or three letters, optionally with a region) or the Hub's special values
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SPECIAL_LANGUAGES = frozenset({"code", "multilingual"})


def size_category(n: int) -> str:
    """The Hub's size bucket for `n` records."""
    bound = 1_000
    for category in SIZE_CATEGORIES[:-1]:
        if n < bound:
            return category
        bound *= 10
    return SIZE_CATEGORIES[-1]


def card_problems(content: str, data_files: Iterable[str] | None = None) -> list[str]:
    """Why the Hub would refuse or mis-show this README.md; empty when it passes.

    Parses with ``huggingface_hub`` (offline) and checks the metadata values against the Hub's
    lists; with `data_files` (paths in the repository), each ``configs`` glob must match one.
    """
    require("huggingface_hub", extra="hub", why="validating a dataset card")
    from huggingface_hub import DatasetCard, DatasetCardData

    try:
        card = DatasetCard(content)
    except Exception as exc:  # the library's own parse errors (no front matter, bad YAML)
        return [f"huggingface_hub cannot parse the card: {exc}"]
    meta = card.data.to_dict()
    try:
        DatasetCardData(**meta)
    except Exception as exc:
        return [f"huggingface_hub refuses the card metadata: {exc}"]
    return metadata_problems(meta, data_files)


def metadata_problems(meta: dict[str, Any], data_files: Iterable[str] | None = None) -> list[str]:
    """The value checks of :func:`card_problems` on a parsed metadata dict."""
    if not meta:
        return ["no YAML front matter: the Hub shows no licence, task or files for this card"]
    problems = [] if meta.get("license") else ["no license in the front matter"]
    for lic in _as_list(meta.get("license")):
        if lic not in HUB_LICENSES:
            problems.append(f"license {lic!r} is not a Hub licence id (see hub-docs repositories-licenses)")
    if meta.get("license") == "other" and not meta.get("license_name"):
        problems.append("license 'other' needs a license_name")
    for task in _as_list(meta.get("task_categories")):
        if task not in HUB_TASK_CATEGORIES:
            problems.append(f"task_categories value {task!r} is not one of the Hub's task categories")
    for size in _as_list(meta.get("size_categories")):
        if size not in SIZE_CATEGORIES:
            problems.append(f"size_categories value {size!r} is not one of {', '.join(SIZE_CATEGORIES)}")
    for lang in _as_list(meta.get("language")):
        if not (lang in _SPECIAL_LANGUAGES or _LANGUAGE.match(str(lang))):
            problems.append(f"language {lang!r} is not an ISO 639 code")
    tags = _as_list(meta.get("tags"))
    if not all(isinstance(t, str) and t for t in tags):
        problems.append("tags must be non-empty strings")
    problems += _config_problems(meta.get("configs"), None if data_files is None else list(data_files))
    return problems


def _config_problems(configs: Any, files: list[str] | None) -> list[str]:
    if configs is None:
        return []
    if not isinstance(configs, list) or not configs:
        return ["configs must be a non-empty list"]
    problems, patterns = [], []
    for config in configs:
        if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
            problems.append(f"each configs entry needs a config_name: {config!r}")
            continue
        for entry in _as_list(config.get("data_files")):
            pattern = entry.get("path") if isinstance(entry, dict) else entry
            if not isinstance(pattern, str) or (isinstance(entry, dict) and not entry.get("split")):
                problems.append(f"config {config['config_name']!r}: data_files entries need split and path")
            elif files is not None and not any(fnmatch.fnmatch(f, p) for f in files for p in _as_list(pattern)):
                problems.append(f"config {config['config_name']!r}: data_files {pattern!r} matches no file")
            else:
                patterns += _as_list(pattern)
    unloaded = [f for f in files or () if patterns and not any(fnmatch.fnmatch(f, p) for p in patterns)]
    if unloaded:
        problems.append(f"no config loads {', '.join(unloaded[:3])}: the Hub would leave its rows out")
    return problems


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


__all__ = ["HUB_LICENSES", "HUB_TASK_CATEGORIES", "SIZE_CATEGORIES", "card_problems", "metadata_problems",
           "size_category"]  # fmt: skip
