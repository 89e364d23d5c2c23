"""DPO-phase throughput and model FLOPs utilisation (MFU), and local generation speed, on one device.

A randomly initialised Llama-architecture model (weights made here, nothing downloaded) is trained
with TRL's DPOTrainer, as the DPO phase runs it, on synthetic pairs of fixed length; generation
times the `local` backend (k candidates per prompt). Meant for the lent GPU machine:

    python benchmarks/dpo_throughput.py --size 1b            # H100/H200: bf16, ~1.2 B parameters
    python benchmarks/dpo_throughput.py --size tiny --steps 3  # a CPU smoke test

MFU = 6 x parameters x trained tokens per second / peak bf16 FLOP/s (989e12 for H100/H200 SXM
dense). Trained tokens count chosen and rejected sequences; reference log-probs are precomputed
(as in our DPO phase) and not counted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

SIZES = {  # hidden, layers, heads, kv heads, intermediate
    "1b": (2048, 22, 16, 8, 5632),
    "tiny": (64, 2, 4, 2, 128),
}
PEAK = {"cuda": 989e12, "cpu": None}


def build(size: str, vocab: int, dtype):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, kv, inter = SIZES[size]
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).to(dtype)


def tokenizer(vocab: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {f"w{i}": i for i in range(vocab - 8)}
    core = Tokenizer(models.WordLevel(vocab={**words, "<unk>": vocab - 8}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|end|>", pad_token="<|pad|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|assistant|>"]})
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    return tok


def pairs(n: int, prompt_len: int, answer_len: int, vocab: int):
    from datasets import Dataset

    rng = random.Random(0)

    def words(k):
        return " ".join(f"w{rng.randrange(vocab - 8)}" for _ in range(k))

    return Dataset.from_list([{"prompt": [{"role": "user", "content": words(prompt_len)}],
                               "chosen": [{"role": "assistant", "content": words(answer_len)}],
                               "rejected": [{"role": "assistant", "content": words(answer_len)}]}
                              for _ in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="1b")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4, help="per-device batch (pairs)")
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--answer-len", type=int, default=512)
    ap.add_argument("--gen-prompts", type=int, default=512)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/dpo_throughput.json"))
    args = ap.parse_args()

    import torch
    from trl import DPOConfig, DPOTrainer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    vocab = 32000 if args.size == "1b" else 512
    tok = tokenizer(vocab)
    model = build(args.size, len(tok), dtype)
    n_params = sum(p.numel() for p in model.parameters())
    data = pairs(args.batch * (args.steps + 2), args.prompt_len, args.answer_len, vocab)
    with tempfile.TemporaryDirectory() as work:
        cfg = DPOConfig(output_dir=work, per_device_train_batch_size=args.batch, max_steps=args.steps + 2,
                        learning_rate=2e-7, loss_type=["sigmoid"], bf16=device == "cuda",
                        gradient_checkpointing=device == "cuda", precompute_ref_log_probs=True,
                        max_length=args.prompt_len + args.answer_len + 16, report_to="none", save_strategy="no",
                        logging_steps=1, use_cpu=device == "cpu", disable_tqdm=True)
        trainer = DPOTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok)
        times = []

        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_begin(self, *a, **k):
                if device == "cuda":
                    torch.cuda.synchronize()
                self.t = time.perf_counter()

            def on_step_end(self, *a, **k):
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - self.t)

        trainer.add_callback(Clock())
        trainer.train()
    steady = times[2:]  # the first steps include compilation and allocator warm-up
    tokens_per_step = args.batch * 2 * (args.prompt_len + args.answer_len)
    tps = tokens_per_step * len(steady) / sum(steady)
    peak = PEAK[device]
    mfu = 6 * n_params * tps / peak if peak else None
    result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "parameters": n_params,
              "dtype": str(dtype), "step_seconds": sum(steady) / len(steady), "tokens_per_second": tps, "mfu": mfu}

    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.generation import LocalBackend

    with tempfile.TemporaryDirectory() as ckpt:
        model.save_pretrained(ckpt)
        tok.save_pretrained(ckpt)
        backend = LocalBackend(ckpt, GenerationConfig(k=args.k, temperature=0.7, max_tokens=64),
                               ModelConfig(path=ckpt, dtype="bfloat16" if device == "cuda" else "float32"))
        backend.model.to(device)
        prompts = [[{"role": "user", "content": " ".join(f"w{i % 100}" for i in range(64))}]] * args.gen_prompts
        start = time.perf_counter()
        for i in range(0, len(prompts), 64):
            backend.generate(prompts[i:i + 64], seed=i)
        result["generation_seconds"] = time.perf_counter() - start
        result["generation"] = f"{args.gen_prompts} prompts x k={args.k}, 64 new tokens, batches of 64"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
