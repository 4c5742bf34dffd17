"""Build a tiny random-weight causal LM and its tokenizer locally, for tests and demos.

Nothing is downloaded: a byte-level BPE tokenizer is trained with the `tokenizers` library on
the given texts (or a small built-in corpus), wrapped as a ``PreTrainedTokenizerFast`` with a
chat template, and paired with a 2-layer Llama-style model with random weights. Both are saved
with ``save_pretrained``, so the directory loads through the ordinary
``AutoModelForCausalLM.from_pretrained(path)`` / ``AutoTokenizer.from_pretrained(path)`` path
that the real trainers use. Byte-level BPE encodes any text (no unknown tokens), so prompts
outside the training texts still work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthpipe.importing import require

EOS, PAD = "<|end|>", "<|pad|>"
ROLES = ("<|system|>", "<|user|>", "<|assistant|>")

# `{% generation %}` marks assistant tokens, so TRL's `assistant_only_loss` works with it.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{%- else %}{{ message['content'] + '<|end|>' }}{%- endif %}"
    "{{ '\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>\n' }}{%- endif %}"
)

_DEFAULT_CORPUS = [
    "Q: What is the capital of France? A: Paris",
    "Q: What is two plus two? A: four",
    "The quick brown fox jumps over the lazy dog.",
    "Synthetic data helps train small language models.",
    "def add(a, b):\n    return a + b\n",
]


def build_tiny_causal_lm(
    path: str | Path,
    vocab_from: Sequence[str] | None = None,
    seed: int = 0,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 512,
    init_std: float = 0.1,
) -> Path:
    """Save a tiny random Llama-style model + tokenizer to `path`; returns the path.

    `init_std` is 0.1 rather than Llama's 0.02: with tied 64-d embeddings at 0.02 the logits
    stay near zero, and a LoRA adapter (which cannot touch the frozen head) barely lowered the
    loss (5.9 -> 4.9 in 40 steps); at 0.1 LoRA and full fine-tuning both learn in ~20 steps.
    """
    require("torch", "transformers", "tokenizers", why="the tiny model")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer(list(vocab_from or _DEFAULT_CORPUS), vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        initializer_range=init_std,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)  # weights are a pure function of the seed
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tokenizer(texts: list[str], *, vocab_size: int = 512):
    """A byte-level BPE fitted on `texts`, with EOS/PAD/role tokens and the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    special = [PAD, EOS, *ROLES]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown tokens
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLES),
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
