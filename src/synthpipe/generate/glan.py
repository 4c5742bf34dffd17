"""GLAN: instructions from a taxonomy of human knowledge, like a school curriculum.

Li, Dong, Wang, Huang, Wei and others. 2024. "Synthetic Data (Almost) from Scratch: Generalized
Instruction Tuning for Language Models". arXiv:2402.13064.

An LLM source step (``glan``) that walks a taxonomy down, one structured request per node:

1. disciplines: `disciplines` from the config, or `n_disciplines` listed by the LLM;
2. subjects: `subjects_per_discipline` subjects per discipline (name, level, description);
3. syllabus: `sessions_per_subject` class sessions per subject (title, description, key
   concepts);
4. questions: `questions_per_session` homework questions per session, each combining up to
   `concepts_per_question` key concepts sampled from the session and, with probability
   `cross_session_prob`, from one earlier session of the same course (the paper samples one or
   two sessions and their key concepts);
5. answers (optional, `generate_answers`): the LLM answers each question.

Each level uses a pydantic output model (`DisciplineList`, `SubjectList`, `Syllabus`,
`Homework`), sent as ``response_format`` or prompted and validated. Replies with more items than
asked are cut to the count asked for. Generation stops once `n` questions are planned, so no
request is wasted past `n`.

Output records (one batch per discipline): ``id`` (``glan-<question index>``), ``instruction``
(the question), ``discipline``, ``subject``, ``level``, ``session`` (title of the session the
question is for), ``concepts`` (list), ``answer`` (with `generate_answers`), and
``_lineage[<step>]`` with template hash, seed and the sessions combined. A subject list or
syllabus that cannot be obtained (``llm_error``, ``parse_error``) is yielded as one dropped record
naming the discipline/subject (ids ``glan-d<i>-subjects``, ``glan-d<i>-s<j>-syllabus``), so its
missing questions are visible in the ledger; a failed question or answer drops that question's
record. If the discipline list itself cannot be obtained the step fails (nothing can be made).

Determinism: request seeds and concept sampling depend on (seed, discipline, subject, session,
question number), so reruns replay the same requests (free with the response cache).

Deviations from the paper: the paper's taxonomy was built with GPT-4 and checked by humans;
here it is whatever the config and the LLM give. The paper generated questions per session in
batches and also wrote syllabi per level; this is one question per request.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from synthpipe.data.records import ID, Record, add_lineage
from synthpipe.data.sampling import mix_seed
from synthpipe.errors import StepError
from synthpipe.generate.task import (
    LLMSource,
    MultiTemplateConfig,
    ParseError,
    drop_failed,
    record_seed,
)
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext


# -- structured outputs per level --------------------------------------------------------------------
class DisciplineList(BaseModel):
    disciplines: list[str] = Field(description="names of disciplines")


class Subject(BaseModel):
    name: str = Field(description="subject name")
    level: str = Field("", description="level taught at, e.g. undergraduate")
    description: str = Field("", description="one sentence on its main topics")


class SubjectList(BaseModel):
    subjects: list[Subject]


class Session(BaseModel):
    title: str = Field(description="session title")
    description: str = Field("", description="what the session covers")
    key_concepts: list[str] = Field(description="key concepts taught in the session")


class Syllabus(BaseModel):
    sessions: list[Session]


class Homework(BaseModel):
    question: str = Field(description="the homework question, without its answer")


class GLANConfig(MultiTemplateConfig):
    """Options of the `glan` generator."""

    disciplines: list[str] | None = Field(
        None, description="disciplines to cover; None asks the LLM for `n_disciplines` of them"
    )
    n_disciplines: int = Field(
        10, ge=1, description="disciplines the LLM lists when `disciplines` is not set"
    )
    subjects_per_discipline: int = Field(3, ge=1, description="subjects asked for per discipline")
    sessions_per_subject: int = Field(6, ge=1, description="class sessions asked for per syllabus")
    questions_per_session: int = Field(2, ge=1, description="homework questions per class session")
    concepts_per_question: int = Field(
        3, ge=1, description="most key concepts combined in one question"
    )
    cross_session_prob: float = Field(
        0.5,
        ge=0,
        le=1,
        description="chance that a question also draws concepts from one earlier session",
    )
    n: int = Field(200, gt=0, description="questions to generate (stops early when reached)")
    generate_answers: bool = Field(False, description="also ask the LLM to answer each question")
    answer_max_tokens: int = Field(1024, ge=1, description="longest answer")
    max_tokens: int = Field(
        2048, ge=1, description="longest reply for lists, syllabi and questions"
    )
    seed: int | None = Field(None, description="random seed; defaults to the run's seed")


def _clean_list(items: list[str], limit: int) -> list[str]:
    """Stripped, non-empty, case-insensitively unique items, at most `limit`."""
    seen, out = set(), []
    for item in items:
        text = " ".join(str(item).split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out[:limit]


@register_step("glan")
class GLAN(LLMSource):
    """Discipline -> subjects -> syllabus -> homework questions (Generalized Instruction Tuning).

    One structured request per taxonomy node, down to one question per request (see the module
    docstring). A subject list or syllabus that cannot be obtained is yielded as one dropped
    record naming it.

    Input columns: none (a source).
    Output columns: ``instruction`` (the question), ``discipline``, ``subject``, ``level``,
    ``session``, ``concepts``, ``answer`` (with `generate_answers`).
    Drop reasons: ``llm_error``, ``truncated``, ``parse_error``, ``empty_output`` (an empty
    question or answer).
    References: Li et al. (2024), "Synthetic Data (Almost) from Scratch: Generalized
    Instruction Tuning for Language Models", arXiv:2402.13064.
    """

    Config = GLANConfig
    config: GLANConfig
    drop_reasons = ("llm_error", "truncated", "parse_error", "empty_output")

    def output_columns(self) -> set[str]:
        return {"instruction", "discipline", "subject", "level", "session", "concepts", "answer"}
    main_role: ClassVar[str] = "question"
    template_file: ClassVar[str] = "glan_question.jinja2"
    template_files: ClassVar[dict[str, str]] = {
        "disciplines": "glan_disciplines.jinja2",
        "subjects": "glan_subjects.jinja2",
        "syllabus": "glan_syllabus.jinja2",
        "answer": "glan_answer.jinja2",
    }
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "disciplines": ("n", "config"),
        "subjects": ("discipline", "n", "config"),
        "syllabus": ("discipline", "subject", "level", "description", "n", "config"),
        "question": ("discipline", "subject", "level", "sessions", "concepts", "config"),
        "answer": ("question", "discipline", "subject", "config"),
    }

    def expected_count(self) -> int:
        return self.config.n

    def estimate_requests(self, n_records: int | None) -> int:
        """For --dry-run, if every request succeeds: lists, syllabi, questions (and answers)."""
        cfg = self.config
        n_disciplines = len(cfg.disciplines) if cfg.disciplines else cfg.n_disciplines
        subjects = math.ceil(cfg.n / (cfg.sessions_per_subject * cfg.questions_per_session))
        subjects = min(subjects, n_disciplines * cfg.subjects_per_discipline)
        disciplines = min(n_disciplines, math.ceil(subjects / cfg.subjects_per_discipline))
        questions = min(cfg.n, subjects * cfg.sessions_per_subject * cfg.questions_per_session)
        listing = 0 if cfg.disciplines else 1
        return listing + disciplines + subjects + questions * (1 + int(cfg.generate_answers))

    # -- prompts ----------------------------------------------------------------------------
    def disciplines_messages(self) -> list[dict[str, str]]:
        return self.render_role("disciplines", n=self.config.n_disciplines, config=self.config)

    def subjects_messages(self, discipline: str) -> list[dict[str, str]]:
        return self.render_role(
            "subjects",
            discipline=discipline,
            n=self.config.subjects_per_discipline,
            config=self.config,
        )

    def syllabus_messages(self, discipline: str, subject: dict[str, str]) -> list[dict[str, str]]:
        return self.render_role(
            "syllabus",
            discipline=discipline,
            subject=subject["name"],
            level=subject.get("level", ""),
            description=subject.get("description", ""),
            n=self.config.sessions_per_subject,
            config=self.config,
        )

    def question_messages(
        self,
        discipline: str,
        subject: dict[str, str],
        sessions: list[dict[str, Any]],
        concepts: list[str],
    ) -> list[dict[str, str]]:
        return self.render_role(
            "question",
            discipline=discipline,
            subject=subject["name"],
            level=subject.get("level", ""),
            sessions=sessions,
            concepts=concepts,
            config=self.config,
        )

    def pick_concepts(
        self, sessions: list[dict[str, Any]], j: int, rng: random.Random
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Session `j` (plus maybe one earlier session) and up to `concepts_per_question` concepts."""
        chosen = [sessions[j]]
        if j > 0 and rng.random() < self.config.cross_session_prob:
            chosen.insert(0, sessions[rng.randrange(j)])
        pool = [c for s in chosen for c in s["key_concepts"]]
        k = min(self.config.concepts_per_question, len(pool))
        picked = rng.sample(pool, k)
        if len(chosen) == 2 and k >= 2 and not set(picked) & set(sessions[j]["key_concepts"]):
            picked[-1] = rng.choice(
                sessions[j]["key_concepts"]
            )  # always involve the session itself
        order = {c: i for i, c in enumerate(pool)}
        return chosen, sorted(dict.fromkeys(picked), key=order.__getitem__)

    # -- generation -------------------------------------------------------------------------
    async def aread(self, ctx: StepContext):  # type: ignore[override]
        cfg = self.config
        run_seed = cfg.seed if cfg.seed is not None else ctx.seed
        disciplines = await self._disciplines(ctx, run_seed)
        index = 0
        for d, discipline in enumerate(disciplines):
            if index >= cfg.n:
                break
            batch: list[Record] = []
            lineage = self.lineage(ctx, record_seed(run_seed, ctx.name, f"subjects|{discipline}"))
            try:
                value, _raw = await self.ask(
                    ctx, self.subjects_messages(discipline), lineage["seed"], schema=SubjectList
                )
                subjects = self._subjects(value)
                if not subjects:
                    raise ParseError("parse_error", "the subject list is empty")
            except (LLMError, ParseError) as exc:
                batch.append(
                    self._failed(ctx, f"glan-d{d}-subjects", lineage, exc, discipline=discipline)
                )
                yield batch
                continue
            planned: list[tuple[Record, list[dict[str, str]], int]] = []
            pending = list(enumerate(subjects))
            per_subject = cfg.sessions_per_subject * cfg.questions_per_session
            while pending and index < cfg.n:  # syllabi only for subjects that n still needs
                need = -(-(cfg.n - index) // per_subject)
                wave, pending = pending[:need], pending[need:]
                syllabi = await asyncio.gather(
                    *(self._syllabus(ctx, run_seed, discipline, s) for _i, s in wave)
                )
                for (s_i, subject), syllabus in zip(wave, syllabi, strict=True):
                    if isinstance(syllabus, Exception):
                        seed = record_seed(
                            run_seed, ctx.name, f"syllabus|{discipline}|{subject['name']}"
                        )
                        batch.append(
                            self._failed(
                                ctx, f"glan-d{d}-s{s_i}-syllabus", self.lineage(ctx, seed), syllabus,
                                discipline=discipline, subject=subject["name"], level=subject["level"],
                            )
                        )  # fmt: skip
                        continue
                    for j in range(len(syllabus)):
                        for q in range(cfg.questions_per_session):
                            if index < cfg.n:
                                planned.append(
                                    self._plan(
                                        ctx, run_seed, index, discipline, subject, syllabus, j, q
                                    )
                                )
                                index += 1
            await asyncio.gather(*(self._question(ctx, *p) for p in planned))
            batch.extend(p[0] for p in planned)
            ctx.log.info(
                "glan: discipline %r gave %d records (%d questions so far)",
                discipline,
                len(batch),
                index,
            )
            yield batch

    async def _disciplines(self, ctx: StepContext, run_seed: int) -> list[str]:
        cfg = self.config
        if cfg.disciplines:
            return _clean_list(cfg.disciplines, len(cfg.disciplines))
        seed = record_seed(run_seed, ctx.name, "disciplines")
        try:
            value, _raw = await self.ask(
                ctx, self.disciplines_messages(), seed, schema=DisciplineList
            )
        except (LLMError, ParseError) as exc:
            raise StepError(
                f"glan: could not get the list of disciplines from the LLM ({exc}); rerun, or set "
                "`disciplines` in the step's config"
            ) from exc
        disciplines = _clean_list(value["disciplines"], cfg.n_disciplines)
        if not disciplines:
            raise StepError(
                "glan: the LLM listed no disciplines; set `disciplines` in the step's config"
            )
        return disciplines

    def _subjects(self, value: dict[str, Any]) -> list[dict[str, str]]:
        out, seen = [], set()
        for s in value["subjects"]:
            name = " ".join(s["name"].split())
            if name and name.lower() not in seen:
                seen.add(name.lower())
                out.append(
                    {
                        "name": name,
                        "level": s["level"].strip(),
                        "description": s["description"].strip(),
                    }
                )
        return out[: self.config.subjects_per_discipline]

    async def _syllabus(
        self, ctx: StepContext, run_seed: int, discipline: str, subject: dict[str, str]
    ) -> list[dict[str, Any]] | LLMError | ParseError:
        seed = record_seed(run_seed, ctx.name, f"syllabus|{discipline}|{subject['name']}")
        try:
            value, _raw = await self.ask(
                ctx, self.syllabus_messages(discipline, subject), seed, schema=Syllabus
            )
        except (LLMError, ParseError) as exc:
            return exc
        sessions = []
        for s in value["sessions"]:
            concepts = _clean_list(s["key_concepts"], 10)
            title = " ".join(s["title"].split())
            if title and concepts:
                sessions.append(
                    {
                        "title": title,
                        "description": s["description"].strip(),
                        "key_concepts": concepts,
                    }
                )
        if not sessions:
            return ParseError("parse_error", "the syllabus has no session with key concepts")
        return sessions[: self.config.sessions_per_subject]

    def _plan(
        self,
        ctx: StepContext,
        run_seed: int,
        index: int,
        discipline: str,
        subject: dict[str, str],
        syllabus: list[dict[str, Any]],
        j: int,
        q: int,
    ) -> tuple[Record, list[dict[str, str]], int]:
        key = f"{discipline}|{subject['name']}|{j}|{q}"
        rng = random.Random(mix_seed(run_seed, "concepts", key))
        sessions, concepts = self.pick_concepts(syllabus, j, rng)
        seed = record_seed(run_seed, ctx.name, f"question|{key}")
        record: Record = {
            ID: f"glan-{index:06d}",
            "instruction": None,
            "discipline": discipline,
            "subject": subject["name"],
            "level": subject["level"],
            "session": syllabus[j]["title"],
            "concepts": concepts,
        }
        lineage = {**self.lineage(ctx, seed), "sessions": [s["title"] for s in sessions]}
        add_lineage(record, **{ctx.name: lineage})
        return record, self.question_messages(discipline, subject, sessions, concepts), seed

    async def _question(
        self, ctx: StepContext, record: Record, messages: list[dict[str, str]], seed: int
    ) -> None:
        cfg = self.config
        try:
            value, _raw = await self.ask(ctx, messages, seed, schema=Homework)
            question = value["question"].strip()
            if not question:
                raise ParseError("empty_output", "the question is empty")
            record["instruction"] = question
            if cfg.generate_answers:
                answer_messages = self.render_role(
                    "answer",
                    question=question,
                    discipline=record["discipline"],
                    subject=record["subject"],
                    config=cfg,
                )
                answer, _raw = await self.ask(
                    ctx, answer_messages, seed, max_tokens=cfg.answer_max_tokens
                )
                record["answer"] = answer.strip()
                if not record["answer"]:
                    raise ParseError("empty_output", "the answer is empty")
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)

    def _failed(
        self, ctx: StepContext, rid: str, lineage: dict[str, Any], exc: LLMError | ParseError, **fields: Any
    ) -> Record:
        record: Record = {ID: rid, "instruction": None, **fields}
        add_lineage(record, **{ctx.name: lineage})
        return drop_failed(record, ctx.name, exc)
