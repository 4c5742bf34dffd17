"""Training formats the exporter writes, by name (see each module for its row shape)."""

from synthpipe.train.formats.alpaca import ALPACA
from synthpipe.train.formats.base import Format
from synthpipe.train.formats.chat import OPENAI, PROMPT_COMPLETION, SHAREGPT, TRL_MESSAGES
from synthpipe.train.formats.dpo import DPO
from synthpipe.train.formats.tools import OPENAI_TOOLS, SHAREGPT_TOOLS, TRL_TOOLS

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        OPENAI, TRL_MESSAGES, PROMPT_COMPLETION, SHAREGPT, ALPACA, DPO,
        OPENAI_TOOLS, TRL_TOOLS, SHAREGPT_TOOLS,
    )
}  # fmt: skip
