"""The embedded tiny default: a tokenizer, a small Llama model and its SFT, all built locally.

Nothing can be downloaded in tests or the demo, so ``spin-train init-tiny``
trains a byte-level BPE tokenizer on the line-by-line dataset, gives it a chat
template, initialises a small Llama-architecture model and fine-tunes it on
the dataset's train split (SPIN starts from an SFT model): its line-by-line rows and the Argdown
Bench's tasks built from that split, answered by their references (the bench itself comes from the
test split, so nothing it asks was trained on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Optional

SPECIAL = ["<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# The generation prompt ends on a special token, so the prompt's ids are a prefix of the
# ids of prompt + answer (a trailing "\n" would merge with the answer's first bytes):
# TRL's prompt/completion split and our generation then see the same tokens.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def rows_text(rows: Iterable[dict]) -> Iterable[str]:
    for row in rows:
        for message in row["prompt"]:
            yield message["content"]
        for message in row["completion"]:
            yield message["content"]


def build_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|end|>", pad_token="<|pad|>",
                                  unk_token=None, bos_token=None)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(tok, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0, tie_embeddings: bool = True):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
        tie_word_embeddings=tie_embeddings, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)


def sft(model, tok, rows: list[dict], out: Path, steps: int, seed: int = 0, max_length: int = 1024,
        batch_size: int = 8, learning_rate: float = 3e-3) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    args = SFTConfig(
        output_dir=str(out / ".sft-work"), max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=max(1, steps // 20),
        bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=10,
        seed=seed, max_length=max_length, use_cpu=True, dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    result = trainer.train()
    return {"sft_loss": result.training_loss, "steps": trainer.state.global_step}


def init_tiny(out: Path, rows: list[dict], steps: int = 200, vocab_size: int = 2048, hidden: int = 64,
              layers: int = 2, seed: int = 0, max_length: int = 1024, log: Callable[[str], None] = print,
              tie_embeddings: bool = True) -> dict:
    """Build tokenizer + model from ``rows`` (prompt/completion rows), SFT them, save to ``out``. Rows longer
    than ``max_length`` tokens are left out and counted: truncation would cut off their answers."""
    import shutil

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"init-tiny: training a {vocab_size}-token byte-level BPE tokenizer on {len(rows)} rows")
    tok = build_tokenizer(rows_text(rows), vocab_size)
    fitting = [r for r in rows if _length(tok, r) <= max_length]
    too_long = len(rows) - len(fitting)
    if too_long:
        log(f"init-tiny: {too_long} of {len(rows)} rows are longer than {max_length} tokens; left out of the SFT")
    rows = fitting
    model = build_model(tok, hidden=hidden, layers=layers, seed=seed, tie_embeddings=tie_embeddings)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"init-tiny: Llama model, {layers} layers x {hidden} hidden, {n_params / 1e6:.2f} M parameters; SFT {steps} steps")
    metrics = sft(model, tok, rows, out, steps, seed=seed, max_length=max_length)
    # OpenAI-compatible servers (transformers serve) sample only if the generation config says so.
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.7
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    shutil.rmtree(out / ".sft-work", ignore_errors=True)
    info = {"parameters": n_params, "vocab_size": len(tok), "rows": len(rows), "rows_too_long": too_long, **metrics}
    (out / "init_tiny.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    log(f"init-tiny: SFT loss {metrics['sft_loss']:.3f}; saved to {out}")
    return info


def _length(tok, row: dict) -> int:
    return len(tok(tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=False))["input_ids"])


def bench_rows(dataset_dir: Path, configs: Optional[list[str]] = None, split: str = "train") -> list[dict]:
    """The Argdown Bench's items built from ``split`` (evaluate.bench_items), each answered by its reference:
    SFT rows that teach the bench's tasks (map, reconstruction, repair, Z3) on texts the bench never asks."""
    from ..data.rows import split_rows
    from ..evaluation.bench import bench_items
    from ..evaluation.floors import reference_answer

    return [{"prompt": item.prompt, "completion": [{"role": "assistant", "content": reference_answer(item)}]}
            for item in bench_items(split_rows(dataset_dir, configs, split))]
