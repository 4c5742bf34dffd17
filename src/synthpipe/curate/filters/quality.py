"""``quality_filter``: a data profile's filters as one step (see :mod:`synthpipe.curate.profiles`).

The step builds the profile's stages (instruction detectors, LLM failure modes, symbol and
repetition rules, optionally language) with the profile's settings and the record's field
names, and runs them in order: the first stage that drops a record names the reason, with the
stage's own detail. ``options`` changes a stage's settings (``{symbol: {max_bullet_lines:
0.5}}``), ``skip`` removes a stage or one check of the ``instruction`` and ``llm_output``
stages (``[truncated, placeholder_input]``).

In the ``chat`` profile every assistant turn is checked as a response to the user turn before
it (details start with ``turn N:``, N counting messages from 0); a conversation without an
assistant turn is ``empty_output``. Messages are ``{"role", "content"}`` (OpenAI) or
``{"from", "value"}`` (ShareGPT); roles ``user``/``human``/``prompter`` ask and
``assistant``/``gpt``/``bot``/``model`` answer.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from pydantic import Field

from synthpipe.curate import profiles as profiles_module
from synthpipe.curate.filters.instruction import InstructionFilter
from synthpipe.curate.filters.language_filter import LanguageFilter
from synthpipe.curate.filters.llm_output import LLMOutputFilter
from synthpipe.curate.filters.repetition import RepetitionFilter
from synthpipe.curate.filters.symbols import SymbolFilter
from synthpipe.curate.profiles import PROFILES, ProfileName, Stage, get_profile, profile_fields
from synthpipe.curate.text_filters import TextFilter
from synthpipe.data.records import Record
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig

STAGE_CLASSES: dict[str, type[FilterStep]] = {
    "instruction_filter": InstructionFilter, "llm_output_filter": LLMOutputFilter, "symbol_filter": SymbolFilter,
    "repetition_filter": RepetitionFilter, "text_filter": TextFilter, "language_filter": LanguageFilter,
}  # fmt: skip
_CHECKED_STAGES = {"instruction": "checks", "llm_output": "checks"}  # stages whose checks `skip` can name
_ASKING = frozenset({"user", "human", "prompter"})
_ANSWERING = frozenset({"assistant", "gpt", "bot", "model", "chatgpt"})
_PAIR = {"instruction": "instruction", "input": "input", "response": "response"}  # chat turns' fields


class QualityFilterConfig(StepConfig):
    profile: ProfileName = Field("instruction", description=f"data profile: {', '.join(PROFILES)}")
    instruction_field: str | None = Field(None, description="instruction field (default: the profile's)")
    input_field: str | None = Field(None, description="optional input field (default: input, instruction profile)")
    response_field: str | None = Field(None, description="response field (default: the profile's)")
    messages_field: str | None = Field(None, description="chat: field with the list of messages (default: messages)")
    text_field: str | None = Field(None, description="text and web: the text field (default: text)")
    languages: list[str] | None = Field(None, description="also keep only these languages (adds the language stage)")
    skip: list[str] = Field(default_factory=list, description="stages, or checks of instruction/llm_output, to leave out")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="stage name -> settings that replace the profile's"
    )


@register_step("quality_filter")
class QualityFilter(FilterStep):
    """Runs a data profile's quality filters (instruction, chat, math, code, text, web) as one step.

    Each profile's stages and settings are in :mod:`synthpipe.curate.profiles`; how they run,
    and ``options``/``skip``, in the module docstring.

    Input columns: the profile's fields: `instruction_field` and `response_field` (instruction,
    math, code), `messages_field` (chat), `text_field` (text, web); `input_field` is optional.
    Output columns: none: marks records dropped.
    Drop reasons: every reason of its stages: ``control_chars``, ``missing_attachment``,
    ``placeholder_input``, ``url_only_input``, ``inconsistent_input``, ``placeholder_output``,
    ``template_leak``, ``merged_instructions``, ``empty_code`` (instruction_filter);
    ``impossible_instruction``, ``empty_output``, ``refusal``, ``echoes_instruction``,
    ``truncated`` (llm_output_filter); ``symbol_ratio``, ``bullet_lines``, ``ellipsis_lines``,
    ``non_alpha_words``, ``mean_word_length``, ``few_stop_words`` (symbol_filter);
    ``dup_line_frac``, ``dup_para_frac``, ``dup_line_char_frac``, ``dup_para_char_frac``,
    ``top_ngram_char_frac``, ``dup_ngram_char_frac`` (repetition_filter); ``empty``,
    ``too_short``, ``too_long``, ``non_alphabetic`` (text_filter); ``wrong_language``,
    ``language_mismatch``, ``uncertain_language`` (language_filter); ``missing_text``,
    ``not_text``.
    References: Rae et al. (2021), "Scaling Language Models: Methods, Analysis & Insights from
    Training Gopher", arXiv:2112.11446 (the web rules); Wang et al. (2023), "Self-Instruct",
    arXiv:2212.10560; the AlpacaDataCleaned issue categories (github.com/gururise/AlpacaDataCleaned).
    """

    Config = QualityFilterConfig
    cpu_bound = True
    drop_reasons = tuple(dict.fromkeys(r for cls in STAGE_CLASSES.values() for r in cls.drop_reasons))

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self.profile = get_profile(self.config.profile)
        self.fields = self._fields()
        self.stages = self._build()

    # -- construction ---------------------------------------------------------------------
    def _fields(self) -> dict[str, str]:
        cfg = self.config
        given = {"instruction": cfg.instruction_field, "input": cfg.input_field, "response": cfg.response_field,
                 "messages": cfg.messages_field, "text": cfg.text_field}  # fmt: skip
        fields = profile_fields(self.profile, given)
        if cfg.input_field and "instruction" in fields:  # math and code take an input when named
            fields["input"] = cfg.input_field
        return fields

    def _build(self) -> list[tuple[str, FilterStep]]:
        cfg = self.config
        known = {s.name for s in self.profile.stages} | {"language"}
        unknown = sorted(set(cfg.options) - known)
        if unknown:
            raise UsageError(f"quality_filter: no stage {unknown} in profile {self.profile.name!r} (stages: {', '.join(sorted(known))})")
        stages = list(self.profile.stages)
        if cfg.languages:
            roles = ("text",) if "text" in self.profile.fields else ("instruction", "response")
            stages.append(Stage("language", "language_filter", {"languages": list(cfg.languages)}, {"text_field": roles}))
        self._check_skip(stages)
        built = []
        for stage in stages:
            if stage.name in cfg.skip:
                continue
            built.append((stage.name, self._make(stage)))
        return built

    def _check_skip(self, stages: list[Stage]) -> None:
        names = {s.name for s in stages}
        checks = {c for s in stages if s.name in _CHECKED_STAGES for c in s.config.get("checks", _all_checks(s))}
        unknown = sorted(set(self.config.skip) - names - checks)
        if unknown:
            raise UsageError(f"quality_filter: cannot skip {unknown}; stages: {', '.join(sorted(names))}; "
                             f"checks: {', '.join(sorted(checks))}")  # fmt: skip

    def _make(self, stage: Stage) -> FilterStep:
        fields = _PAIR if self.profile.name == "chat" else self.fields
        config: dict[str, Any] = dict(stage.config)
        for option, roles in stage.fields.items():
            roles = (roles,) if isinstance(roles, str) else roles
            names = [fields[r] for r in roles if fields.get(r)]
            config[option] = (names[0] if len(names) == 1 else names) if names else None
        if stage.name in _CHECKED_STAGES:
            config["checks"] = [c for c in config.get("checks", _all_checks(stage)) if c not in self.config.skip]
        config.update(self.config.options.get(stage.name, {}))
        try:
            return STAGE_CLASSES[stage.step](**config)
        except UsageError:
            raise
        except Exception as exc:  # pydantic ValidationError: a bad `options` value
            raise UsageError(f"quality_filter stage {stage.name!r}: {exc}") from None

    # -- step API ------------------------------------------------------------------------
    def requirements(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for _, step in self.stages for r in step.requirements()))

    def input_columns(self) -> set[str]:
        return {self.fields[role] for role in self.profile.required}

    def output_columns(self) -> set[str]:
        return set()

    def input_files(self):
        return [path for _, step in self.stages for path in step.input_files()]

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        # the stages' own fingerprints (code, settings, word lists) and the profile table
        stages = {name: step.fingerprint(env=env) for name, step in self.stages}
        profiles = hashlib.sha256(inspect.getsource(profiles_module).encode()).hexdigest()[:16]
        return {"stages": stages, "profiles": profiles}

    def describe(self) -> dict[str, Any]:
        """The profile, the field of each role and the stages, for summaries."""
        return {"profile": self.profile.name, "fields": dict(self.fields), "stages": [name for name, _ in self.stages]}

    def keep(self, record: Record) -> FilterResult:
        if self.profile.name == "chat":
            return self._keep_chat(record)
        return self._run(record)

    def _run(self, record: Record) -> FilterResult:
        for _, step in self.stages:
            verdict = step.keep(record)
            if verdict is not True and not (isinstance(verdict, tuple) and verdict[0]):
                return verdict
        return True

    def _keep_chat(self, record: Record) -> FilterResult:
        name = self.fields["messages"]
        messages = record.get(name)
        if messages is None:
            return False, "missing_text", f"no field {name!r}"
        if not isinstance(messages, list):
            return False, "not_text", f"{name}: {type(messages).__name__} value, not a list of messages"
        asked, answered = "", 0
        for index, message in enumerate(messages):
            role, content = message_parts(message)
            if content is None:
                return False, "not_text", f"turn {index}: not a message"
            if role in _ASKING:
                asked = content
            elif role in _ANSWERING:
                answered += 1
                verdict = self._run({"instruction": asked, "response": content})
                if verdict is not True:
                    return _in_turn(verdict, index)
        return True if answered else (False, "empty_output", "no assistant turn")


def message_parts(message: Any) -> tuple[str, str | None]:
    """(lower-case role, text) of an OpenAI or ShareGPT message; text None if it is not one."""
    if not isinstance(message, dict):
        return "", None
    role = message.get("role", message.get("from"))
    content = message.get("content", message.get("value"))
    if content is None:
        content = ""
    return (str(role).lower() if role is not None else ""), (content if isinstance(content, str) else None)


def _in_turn(verdict: FilterResult, index: int) -> FilterResult:
    if not isinstance(verdict, tuple):
        return False, "filtered", f"turn {index}"
    detail = verdict[2] if len(verdict) > 2 and verdict[2] is not None else None
    return False, verdict[1] if len(verdict) > 1 else "filtered", f"turn {index}" + (f": {detail}" if detail else "")


def _all_checks(stage: Stage) -> list[str]:
    return list(STAGE_CLASSES[stage.step].Config.model_fields["checks"].get_default(call_default_factory=True))
