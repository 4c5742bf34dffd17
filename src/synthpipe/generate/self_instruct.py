"""Self-Instruct: bootstrap new task instructions from a small pool of human-written seed tasks.

Wang, Kordi, Mishra, Liu, Smith, Khashabi and Hajishirzi. 2023. "Self-Instruct: Aligning Language
Models with Self-Generated Instructions". ACL 2023. arXiv:2212.10560.

Algorithm (one LLM source step, ``self_instruct``)
1. The task pool starts with the seed tasks (default: the paper's 175 seed tasks, bundled as
   ``bundled:self_instruct/seed_tasks.jsonl``, Apache-2.0).
2. Each round sends `requests_per_round` prompts at once. Each shows `num_demos` (8) tasks: up to
   `num_machine_demos` (2) machine-generated ones, the rest seed tasks, shuffled, and asks for
   `num_new` more tasks as a numbered list ("Task 9: ..."); the reply stops at the task after the
   last one asked for (as the paper's code did).
3. Every parsed instruction goes through the paper's filters, in this order, and is kept only if
   it passes all of them:
   - ``bad_length``: fewer than `min_words` or more than `max_words` words;
   - ``filtered_keyword``: a blacklisted word (image, graph, picture, file, map, draw, plot,
     go to, video, audio, music, flowchart, diagram; whole words), or it starts with
     "Write a program" (the paper's code drops these too);
   - ``bad_start``: it starts with punctuation or a non-ASCII (non-English) character;
   - ``rouge_l_too_similar``: its ROUGE-L F against any instruction in the pool (seeds and
     everything kept so far, including earlier instructions of the same round) is >=
     `rouge_threshold` (0.7); the detail names the closest instruction.
   Kept instructions join the pool (and can be demonstrations in later rounds). Rejected ones are
   yielded as dropped records with the reason, never discarded silently; so is a reply with no
   parsable list (``parse_error``), a request that gave up (``llm_error``), and instructions
   parsed after `n` was reached (``quota_reached``).
4. Rounds continue until `n` instructions are kept or `max_rounds` is reached.
5. With `generate_instances`, each kept instruction gets one instance: first the model is asked
   whether the task is a classification task (the paper's few-shot yes/no prompt, examples
   from the seed tasks; `classification: heuristic` uses a keyword rule instead, and an
   unclear answer falls back to it), then the instance prompt: input-first for ordinary tasks,
   output-first (class label, then an input of that class) for classification tasks. Failures
   drop the record (``llm_error``, ``parse_error``, ``empty_output``).

Output records: ``id`` (``self_instruct-<candidate index>``), ``instruction``, ``input``,
``output``, ``is_classification`` (None without instances), ``_lineage[<step>]`` with
technique, template hash, seed, round, request and ``demonstrations`` (ids of the tasks shown:
``seed_task_*`` or earlier ``self_instruct-*`` ids), plus ``classification_source``.

Determinism: the demonstrations and every request seed depend only on (seed, round, request)
and the replies, so a rerun with the response cache replays the same requests for free.

Deviations from the paper: a chat prompt (the paper completed a plain GPT-3 prompt); one
instance per instruction (the paper asked for several); `min_words` counts inclusively (the
paper's code drops instructions of 3 words or fewer; set `min_words: 4` for that).
"""

from __future__ import annotations

import asyncio
import random
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from synthpipe.data.records import ID, Record, add_lineage, drop
from synthpipe.data.sampling import mix_seed
from synthpipe.errors import UsageError
from synthpipe.generate.parsing import parse_numbered_list, parse_yes_no
from synthpipe.generate.task import (
    LLMSource,
    MultiTemplateConfig,
    ParseError,
    drop_failed,
    failure,
    record_seed,
)
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.text.rouge import RougePool

BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
_CLASSIFICATION_HINT = re.compile(
    r"\b(classify|classification|categori[sz]e|which (?:category|class|label)|label (?:the|each|it|this)|"
    r"true or false|yes or no|sentiment|(?:determine|decide|identify|detect|tell(?: me)?) (?:if|whether)|"
    r"is (?:it|this|the \w+) (?:positive|negative|true|false|correct|valid))\b",
    re.IGNORECASE,
)


class SelfInstructConfig(MultiTemplateConfig):
    """Options of the `self_instruct` generator."""

    seeds: str = Field(
        "bundled:self_instruct/seed_tasks.jsonl",
        description="seed tasks (jsonl/csv/parquet) with an instruction field; `instances` "
        "[{input, output}] and `is_classification` are used as few-shot examples when present",
    )
    instruction_field: str = Field(
        "instruction", description="field of a seed task holding its instruction"
    )
    n: int = Field(100, gt=0, description="instructions to keep (generation stops when reached)")
    max_rounds: int = Field(
        100, gt=0, description="stop after this many rounds even if `n` is not reached"
    )
    requests_per_round: int = Field(
        4, ge=1, description="generation prompts sent at once per round"
    )
    num_demos: int = Field(8, ge=1, description="tasks shown in each generation prompt (paper: 8)")
    num_machine_demos: int = Field(
        2, ge=0, description="of those, machine-generated ones once there are any (paper: 2)"
    )
    num_new: int = Field(8, ge=1, description="new tasks asked for per prompt")
    rouge_threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="drop an instruction whose ROUGE-L F with any pooled instruction is >= this",
    )
    min_words: int = Field(3, ge=1, description="drop instructions with fewer words")
    max_words: int = Field(150, ge=1, description="drop instructions with more words")
    blacklist: list[str] = Field(
        list(BLACKLIST),
        description="drop instructions containing one of these words or phrases (whole words)",
    )
    generate_instances: bool = Field(
        True, description="ask for an input/output instance per kept instruction"
    )
    classification: Literal["llm", "heuristic"] = Field(
        "llm",
        description="how `is_classification` is decided: ask the LLM (paper) or a keyword heuristic",
    )
    classify_examples: int = Field(
        12, ge=0, description="few-shot examples in the classification prompt"
    )
    instance_examples: int = Field(
        3, ge=0, description="seed tasks shown as examples in the instance prompt"
    )
    instance_temperature: float = Field(
        0.0, ge=0, le=2, description="sampling temperature for instances (paper: 0)"
    )
    instance_max_tokens: int = Field(512, ge=1, description="longest instance reply")
    temperature: float = Field(
        0.7, ge=0, le=2, description="sampling temperature for new instructions (paper: 0.7)"
    )
    top_p: float = Field(
        0.5, gt=0, le=1, description="nucleus sampling for new instructions (paper: 0.5)"
    )
    max_tokens: int = Field(1024, ge=1, description="longest instruction-generation reply")
    seed: int | None = Field(None, description="random seed; defaults to the run's seed")


class Instance(BaseModel):
    input: str = Field("", description="the task's input; empty if it needs none")
    output: str = Field(description="the correct output for that input")


class ClassificationInstance(BaseModel):
    class_label: str = Field(description="one class label of the task")
    input: str = Field("", description="an input of that class; empty if the task needs none")


@register_step("self_instruct")
class SelfInstruct(LLMSource):
    """Bootstrap new instructions from seed tasks with ROUGE-L novelty filtering (Self-Instruct).

    Rounds of generation prompts, the paper's filters and the optional instances are described
    in the module docstring. Rejected candidates are yielded as dropped records.

    Input columns: none (a source; `instruction_field` names the seed file's field).
    Output columns: ``instruction``, ``input``, ``output``, ``is_classification`` (null
    without instances).
    Drop reasons: ``bad_length``, ``filtered_keyword``, ``bad_start``, ``rouge_l_too_similar``
    (detail: the closest instruction), ``quota_reached``, ``parse_error``, ``llm_error``,
    ``truncated``, ``empty_output``.
    References: Wang et al. (2023), "Self-Instruct: Aligning Language Models with
    Self-Generated Instructions", ACL 2023, arXiv:2212.10560.
    """

    Config = SelfInstructConfig
    config: SelfInstructConfig
    drop_reasons = (
        "bad_length", "filtered_keyword", "bad_start", "rouge_l_too_similar", "quota_reached",
        "parse_error", "llm_error", "truncated", "empty_output",
    )  # fmt: skip

    def output_columns(self) -> set[str]:
        return {"instruction", "input", "output", "is_classification"}
    main_role: ClassVar[str] = "generate"
    template_file: ClassVar[str] = "self_instruct_generate.jinja2"
    template_files: ClassVar[dict[str, str]] = {
        "classify": "self_instruct_classify.jinja2",
        "instance": "self_instruct_instance.jinja2",
    }
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "generate": ("demos", "num_new", "config"),
        "classify": ("instruction", "examples", "config"),
        "instance": ("instruction", "is_classification", "examples", "config"),
    }

    def estimate_requests(self, n_records: int | None) -> int:
        """Upper bound for --dry-run: every round runs, every kept instruction gets an instance."""
        cfg = self.config
        per_instance = (2 if cfg.classification == "llm" else 1) if cfg.generate_instances else 0
        return cfg.max_rounds * cfg.requests_per_round + cfg.n * per_instance

    # -- inputs -----------------------------------------------------------------------------
    def _seeds_path(self) -> Path:
        from synthpipe.data.paths import resolve_data_path

        return Path(resolve_data_path(self.config.seeds))

    def input_files(self) -> list[Path]:
        return [*super().input_files(), self._seeds_path()]

    @cached_property
    def seed_tasks(self) -> list[Record]:
        """Seed tasks as {id, instruction, input, output, is_classification}."""
        from synthpipe.data.readers import read_all

        path = self._seeds_path()
        rows = read_all(
            path, fields={"instruction": self.config.instruction_field}, required=["instruction"]
        )
        tasks = []
        for i, row in enumerate(rows):
            text = str(row.get("instruction") or "").strip()
            if not text:
                continue
            instances = row.get("instances") or []
            first = (
                instances[0]
                if isinstance(instances, list) and instances and isinstance(instances[0], dict)
                else {}
            )
            tasks.append(
                {
                    "id": str(row.get(ID) or f"seed-{i}"),
                    "instruction": text,
                    "input": str(first.get("input") or ""),
                    "output": str(first.get("output") or ""),
                    "is_classification": row.get("is_classification"),
                }
            )
        if len(tasks) < self.config.num_demos:
            raise UsageError(
                f"seed file {path} has {len(tasks)} usable task(s); self_instruct shows "
                f"{self.config.num_demos} per prompt (`num_demos`). Add seed tasks or lower `num_demos`."
            )
        return tasks

    # -- prompts ----------------------------------------------------------------------------
    def generation_messages(self, demos: list[str]) -> list[dict[str, str]]:
        return self.render_role(
            "generate", demos=demos, num_new=self.config.num_new, config=self.config
        )

    def classify_messages(self, instruction: str) -> list[dict[str, str]]:
        return self.render_role(
            "classify",
            instruction=instruction,
            examples=self._classify_examples,
            config=self.config,
        )

    def instance_messages(
        self, instruction: str, is_classification: bool, rng: random.Random
    ) -> list[dict[str, str]]:
        pool = [
            t for t in self.seed_tasks
            if bool(t["is_classification"]) == is_classification and t["output"] and len(t["output"]) <= 400
        ]  # fmt: skip
        examples = rng.sample(pool, min(self.config.instance_examples, len(pool)))
        return self.render_role(
            "instance",
            instruction=instruction,
            is_classification=is_classification,
            examples=examples,
            config=self.config,
        )

    @cached_property
    def _classify_examples(self) -> list[Record]:
        """A fixed few-shot set: half classification seeds, half others, interleaved."""
        rng = random.Random(mix_seed("classify-examples"))
        labelled = [t for t in self.seed_tasks if t["is_classification"] is not None]
        yes = [t for t in labelled if t["is_classification"]]
        no = [t for t in labelled if not t["is_classification"]]
        half = self.config.classify_examples // 2
        picked_yes = rng.sample(yes, min(half, len(yes)))
        picked_no = rng.sample(no, min(self.config.classify_examples - len(picked_yes), len(no)))
        out = []
        for i in range(max(len(picked_yes), len(picked_no))):
            out += [x[i] for x in (picked_no, picked_yes) if i < len(x)]
        return out

    # -- filters ----------------------------------------------------------------------------
    @cached_property
    def _blacklist(self) -> re.Pattern[str] | None:
        words = [w.strip() for w in self.config.blacklist if w.strip()]
        if not words:
            return None
        alternatives = "|".join(
            re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)
        )
        return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)

    def check(self, instruction: str) -> tuple[str, str] | None:
        """The paper's heuristic filters: None if the instruction passes, else (reason, detail)."""
        cfg = self.config
        words = len(instruction.split())
        if words < cfg.min_words or words > cfg.max_words:
            return "bad_length", f"{words} words (allowed {cfg.min_words}..{cfg.max_words})"
        if self._blacklist is not None and (hit := self._blacklist.search(instruction)):
            return "filtered_keyword", f"contains {hit.group(0)!r}"
        if instruction.lower().startswith("write a program"):
            return "filtered_keyword", "starts with 'Write a program'"
        first = instruction[0]
        if not first.isascii():
            return "bad_start", f"starts with non-English character {first!r}"
        if not first.isalnum():
            return "bad_start", f"starts with punctuation {first!r}"
        return None

    # -- generation -------------------------------------------------------------------------
    async def aread(self, ctx: StepContext):  # type: ignore[override]
        cfg = self.config
        run_seed = cfg.seed if cfg.seed is not None else ctx.seed
        seeds = self.seed_tasks
        pool = RougePool(t["instruction"] for t in seeds)
        pool_ids = [t["id"] for t in seeds]
        pool_texts = [t["instruction"] for t in seeds]
        machine: list[tuple[str, str]] = []  # (id, instruction) kept so far
        kept = index = 0
        for rnd in range(cfg.max_rounds):
            if kept >= cfg.n:
                break
            plans = [
                self._plan_request(rnd, r, run_seed, ctx, machine)
                for r in range(cfg.requests_per_round)
            ]
            replies = await asyncio.gather(
                *(self._generate(ctx, messages, seed) for _ids, messages, seed in plans)
            )
            batch: list[Record] = []
            accepted: list[Record] = []
            for r, ((demo_ids, _messages, seed), reply) in enumerate(
                zip(plans, replies, strict=True)
            ):
                lineage = {
                    **self.lineage(ctx, seed), "round": rnd, "request": r, "demonstrations": demo_ids,
                }  # fmt: skip
                if isinstance(reply, Exception):
                    batch.append(self._failed(ctx, index, lineage, *failure(reply)))
                    index += 1
                    continue
                items = parse_numbered_list(reply)
                if not items:
                    batch.append(
                        self._failed(
                            ctx,
                            index,
                            lineage,
                            "parse_error",
                            f"no numbered list in reply: {reply[:1000]}",
                        )
                    )
                    index += 1
                    continue
                for item in items:
                    instruction = " ".join(item.split())
                    record = add_lineage(
                        self._candidate(index, instruction), **{ctx.name: {**lineage}}
                    )
                    index += 1
                    batch.append(record)
                    if kept >= cfg.n:
                        drop(
                            record,
                            ctx.name,
                            "quota_reached",
                            f"{cfg.n} instructions were already kept",
                        )
                        continue
                    problem = self.check(instruction)
                    if problem is None:
                        score, closest = pool.max_score(instruction, stop_at=cfg.rouge_threshold)
                        if score >= cfg.rouge_threshold:
                            assert closest is not None
                            problem = (
                                "rouge_l_too_similar",
                                f"ROUGE-L {score:.3f} >= {cfg.rouge_threshold} with "
                                f"{pool_ids[closest]}: {pool_texts[closest][:300]}",
                            )
                    if problem is not None:
                        drop(record, ctx.name, *problem)
                        continue
                    pool.add(instruction)
                    pool_ids.append(record[ID])
                    pool_texts.append(instruction)
                    machine.append((record[ID], instruction))
                    accepted.append(record)
                    kept += 1
            if cfg.generate_instances and accepted:
                await asyncio.gather(
                    *(self._instance(ctx, record, run_seed) for record in accepted)
                )
            ctx.log.info(
                "self_instruct round %d: %d candidates, %d kept so far", rnd, len(batch), kept
            )
            yield batch
        if kept < cfg.n:
            ctx.log.warning(
                "self_instruct: kept %d of n=%d instructions after %d rounds",
                kept,
                cfg.n,
                cfg.max_rounds,
            )

    def _plan_request(
        self, rnd: int, r: int, run_seed: int, ctx: StepContext, machine: list[tuple[str, str]]
    ) -> tuple[list[str], list[dict[str, str]], int]:
        """(demonstration ids, messages, request seed) of request `r` in round `rnd`."""
        cfg = self.config
        rng = random.Random(mix_seed(run_seed, "demos", rnd, r))
        n_machine = min(cfg.num_machine_demos, len(machine), cfg.num_demos)
        demos = rng.sample(machine, n_machine)
        demos += [
            (t["id"], t["instruction"])
            for t in rng.sample(self.seed_tasks, cfg.num_demos - n_machine)
        ]
        rng.shuffle(demos)
        seed = record_seed(run_seed, ctx.name, f"round-{rnd}", r)
        return [d[0] for d in demos], self.generation_messages([d[1] for d in demos]), seed

    async def _generate(
        self, ctx: StepContext, messages: list[dict[str, str]], seed: int
    ) -> str | Exception:
        # The paper's code stopped generation after the last task asked for; without it, a model
        # that keeps numbering runs into max_tokens and its whole reply drops as truncated.
        after_last = f"Task {self.config.num_demos + self.config.num_new + 1}:"
        try:
            reply, _raw = await self.ask(ctx, messages, seed, stop=(after_last,))
        except (LLMError, ParseError) as exc:
            return exc
        return reply

    @staticmethod
    def _candidate(index: int, instruction: str) -> Record:
        return {
            ID: f"self_instruct-{index:06d}",
            "instruction": instruction,
            "input": None,
            "output": None,
            "is_classification": None,
        }

    def _failed(
        self, ctx: StepContext, index: int, lineage: dict[str, Any], reason: str, detail: str
    ) -> Record:
        record = add_lineage(self._candidate(index, ""), **{ctx.name: lineage})
        return drop(record, ctx.name, reason, detail[:2000])

    # -- instances --------------------------------------------------------------------------
    async def _instance(self, ctx: StepContext, record: Record, run_seed: int) -> None:
        cfg = self.config
        instruction = record["instruction"]
        lineage = record["_lineage"][ctx.name]
        rng = random.Random(mix_seed(run_seed, "instance", record[ID]))
        seed = record_seed(run_seed, ctx.name, record[ID], 1)
        try:
            is_cls, source = await self._is_classification(ctx, instruction, seed)
            lineage["classification_source"] = source
            schema = ClassificationInstance if is_cls else Instance
            value, _raw = await self.ask(
                ctx,
                self.instance_messages(instruction, is_cls, rng),
                seed,
                schema=schema,
                temperature=cfg.instance_temperature,
                max_tokens=cfg.instance_max_tokens,
            )
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return
        output = value["class_label"] if is_cls else value["output"]
        record.update(
            is_classification=is_cls,
            input=str(value.get("input") or "").strip(),
            output=str(output).strip(),
        )
        if not record["output"]:
            drop(record, ctx.name, "empty_output", "the instance has an empty output")

    async def _is_classification(
        self, ctx: StepContext, instruction: str, seed: int
    ) -> tuple[bool, str]:
        if self.config.classification == "heuristic":
            return is_classification_heuristic(instruction), "heuristic"
        reply, _raw = await self.ask(
            ctx, self.classify_messages(instruction), seed, temperature=0.0, max_tokens=16
        )
        verdict = parse_yes_no(reply)
        if verdict is None:
            return is_classification_heuristic(instruction), "heuristic_fallback"
        return verdict, "llm"


def is_classification_heuristic(instruction: str) -> bool:
    """Keyword rule: 'classify', 'which category', 'true or false', 'determine whether' ..."""
    return bool(_CLASSIFICATION_HINT.search(instruction))
