"""GPU figures in one run: the DPO phase (ZeRO-3, Spectrum 30 %) against plain TRL, local generation, the
Spectrum scan, and a whole `spin-train run` of the tiny config.

Llama models of the 1B (Llama 3.2) and 8B (Llama 3.1) shapes are initialised here from their configs (no
weights can be downloaded) with a word-level tokenizer of the same vocabulary size. Every figure is written to
OUT/figures.json as soon as it exists, the cheapest first, and every section stops before ``--budget`` seconds
are spent, so a run cut short still returns what it measured:

    python benchmarks/gpu_bench.py --out DIR                 # the lent H200 (docs/gpu.md)
    python benchmarks/gpu_bench.py --out DIR --smoke         # CPU: tiny shapes, the same code end to end

The DPO phase runs through the project's own launcher (``launch.run_dpo``: ``accelerate launch --use_deepspeed
... -m spin_train.training.launch``); the peer is benchmarks/plain_trl_dpo.py under the same `accelerate launch` flags.

MFU counts the work a step must do, without the recomputation of gradient checkpointing:
  forward of the whole model:          2 N T + 4 L d s T                (N: matmul weights incl. lm_head,
  input gradients, from the top down    2 N_a T + 8 L_a d s T            T: tokens per step, s: sequence length,
    to the lowest layer that holds a                                     L_a, N_a: the layers from the lowest
    trainable matrix:                                                    trainable one up, their weights + lm_head)
  weight gradients of the trainable    2 N_t T
    matrices only:
divided by the step time and the GPU's dense bf16 peak (989.4 TFLOP/s for H100/H200 SXM). The usual 6 N T
figure is given beside it. Reference log-probs are precomputed before the first step and not counted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import options
from options import ROOT

import yaml


SHAPES = {  # LlamaConfig fields
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, vocab_size=128256, tie_word_embeddings=True, rope_theta=500000.0),
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False, rope_theta=500000.0),
    "tiny": dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=1024, tie_word_embeddings=False),
    "tiny2": dict(hidden_size=96, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=192, vocab_size=1024, tie_word_embeddings=False),
}
PEAK_BF16 = {"H200": 989.4e12, "H100": 989.4e12}  # dense, SXM


class Bench:
    def __init__(self, out: Path, budget_s: float, smoke: bool):
        self.out, self.smoke = out, smoke
        self.deadline = time.monotonic() + budget_s
        self.work = Path(os.environ.get("GPU_BENCH_WORK", "/tmp/gpu-bench"))
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.figures: dict = {"budget_s": budget_s, "skipped": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, key: str, value) -> None:
        self.figures[key] = value
        (self.out / "figures.json").write_text(json.dumps(self.figures, indent=2))
        print(f"FIGURE {key}: {json.dumps(value)}", flush=True)

    def section(self, name: str, needs_s: float, fn, *args):
        """Run ``fn`` if at least ``needs_s`` seconds are left; a failure is recorded, and the run goes on."""
        if self.left() < needs_s:
            self.figures["skipped"][name] = f"{self.left():.0f} s left, about {needs_s:.0f} s needed"
            self.record("skipped", self.figures["skipped"])
            return None
        print(f"== {name} ({self.left():.0f} s left)", flush=True)
        start = time.perf_counter()
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - one figure failing must not lose the others
            traceback.print_exc()
            self.figures.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"[:2000]
            self.record("failed", self.figures["failed"])
            return None
        finally:
            print(f"== {name}: {time.perf_counter() - start:.1f} s", flush=True)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def environment() -> dict:
    import importlib.metadata as md

    import torch

    versions = {}
    for name in ("torch", "transformers", "trl", "deepspeed", "accelerate", "datasets", "argunauts"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    info = {"versions": versions, "python": sys.version.split()[0], "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "cpu_count": os.cpu_count()}
    if shutil.which("nvidia-smi"):
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                             "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    return info


def tokenizer(vocab: int):
    """A word-level tokenizer of ``vocab`` ids (w0, w1, ...) with a chat template: one token per word."""
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


def build(shape: str, path: Path):
    """A randomly initialised Llama of ``shape`` on the device (bf16 on a GPU), saved to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dtype = torch.bfloat16 if device() == "cuda" else torch.float32
    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096)
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.device(device()):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    sync()
    built = time.perf_counter() - start
    model.save_pretrained(path)
    tok = tokenizer(config.vocab_size)
    tok.save_pretrained(path)
    return model, tok, {"parameters": sum(p.numel() for p in model.parameters()), "dtype": str(dtype),
                        "init_seconds": round(built, 2), "save_seconds": round(time.perf_counter() - start - built, 2)}


def generation(bench: Bench, ckpt: Path, batches: list[int], new_tokens: int, prompt_words: int) -> dict:
    """The local backend (transformers generate): k=5, T=0.7, ``new_tokens`` new tokens, per batch size."""
    from spin_train.config import GenerationConfig, ModelConfig
    from spin_train.serving.backends import LocalBackend

    cfg = GenerationConfig(k=5, temperature=0.7, max_tokens=new_tokens)
    backend = LocalBackend(str(ckpt), cfg, ModelConfig(path=str(ckpt),
                                                       dtype="bfloat16" if device() == "cuda" else "float32"))
    tok = backend.tokenizer
    prompt = [{"role": "user", "content": " ".join(f"w{i % 1000}" for i in range(prompt_words))}]
    backend.generate([prompt] * 2, seed=0)  # warm-up: kernels, allocator
    out = {"k": cfg.k, "temperature": cfg.temperature, "max_new_tokens": new_tokens, "prompt_tokens": prompt_words + 3}
    for batch in batches:
        if bench.left() < 30:
            out[f"batch_{batch}"] = "skipped: budget"
            continue
        sync()
        start = time.perf_counter()
        samples = backend.generate([prompt] * batch, seed=batch)
        sync()
        seconds = time.perf_counter() - start
        # new tokens: every word decoded, plus the end token of an answer that stopped
        tokens = sum(len(tok(s.text, add_special_tokens=False)["input_ids"]) + (not s.truncated)
                     for row in samples for s in row)
        out[f"batch_{batch}"] = {"prompts": batch, "sequences": batch * cfg.k, "new_tokens": tokens,
                                 "seconds": round(seconds, 2), "tokens_per_second": round(tokens / seconds, 1)}
        bench.record("generation_1b" if not bench.smoke else "generation_smoke", out)
    del backend
    free_gpu()
    return out


def free_gpu() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def scan(bench: Bench, model, budget_s: float) -> tuple[dict, dict]:
    """The project's Spectrum SNR (spectrum.snr) of every matrix the scan ranks, on the device, until done or
    ``budget_s``; returns (snrs, figure)."""
    from spin_train.training.spectrum import snr

    names = [(n, p) for n, p in model.named_parameters() if p.ndim == 2 and "embed" not in n and "lm_head" not in n]
    snrs, start = {}, time.perf_counter()
    for name, param in names:
        if time.perf_counter() - start > budget_s:
            break
        snrs[name] = snr(param, device())
    sync()
    seconds = time.perf_counter() - start
    figure = {"matrices": len(names), "scanned": len(snrs), "seconds": round(seconds, 2),
              "seconds_per_matrix": round(seconds / max(len(snrs), 1), 3), "device": device()}
    if len(snrs) < len(names):
        figure["extrapolated_seconds"] = round(seconds / len(snrs) * len(names), 1)
    return snrs, figure


def unfrozen(model, snrs: dict, path: Path) -> dict:
    """The top 30 % per weight type by SNR (spectrum.top) into ``path``; matrices the scan did not reach (a scan
    cut short by the budget) rank last."""
    from spin_train.training.spectrum import top, write_yaml

    every = {n: snrs.get(n, float("-inf")) for n, p in model.named_parameters()
             if p.ndim == 2 and "embed" not in n and "lm_head" not in n}
    names = top(every, 0.30)
    write_yaml(names, path)
    return {"trainable_matrices": len(names), "scan_complete": len(snrs) == len(every)}


def layer_of(name: str) -> int | None:
    match = re.search(r"layers\.(\d+)\.", name)
    return int(match.group(1)) if match else None


def flops_per_step(model, trainable: set[str], tokens: int, seq: int) -> dict:
    """Model FLOPs of one optimizer step (module docstring), and the 6 N T convention beside them."""
    cfg = model.config
    L, d = cfg.num_hidden_layers, cfg.hidden_size
    matmul = {n: p.numel() for n, p in model.named_parameters() if p.ndim == 2 and "embed" not in n}
    lm_head = cfg.vocab_size * d  # tied or not, the output projection is a matmul
    n_all = sum(matmul.values()) + (lm_head if "lm_head.weight" not in matmul else 0)
    lowest = min(layer_of(n) for n in trainable)
    above = L - lowest
    n_above = sum(v for n, v in matmul.items() if (layer_of(n) or -1) >= lowest) + lm_head
    n_trained = sum(matmul[n] for n in trainable)
    forward = 2 * n_all * tokens + 4 * L * d * seq * tokens
    backward = 2 * n_above * tokens + 8 * above * d * seq * tokens + 2 * n_trained * tokens
    return {"model_flops": forward + backward, "six_n_t": 6 * sum(p.numel() for p in model.parameters()) * tokens,
            "trainable_parameters": n_trained, "lowest_trainable_layer": lowest, "layers": L}


def pairs_file(path: Path, tok, n: int, seq: int) -> int:
    """``n`` pairs whose prompt+chosen and prompt+rejected are ``seq`` tokens each, with the ids they train on
    (tokens.tokenize_pair, lengths.pair_length); returns that length."""
    import random

    from datasets import Dataset

    from spin_train.data.lengths import pair_length
    from spin_train.data.tokens import tokenize_pair

    rng = random.Random(0)
    vocab = len(tok) - 8

    def words(k):
        return " ".join(f"w{rng.randrange(vocab)}" for _ in range(k))

    template = pair_length(tokenize_pair(tok, {"prompt": [{"role": "user", "content": "w1"}], "chosen": [
        {"role": "assistant", "content": "w1"}], "rejected": [{"role": "assistant", "content": "w1"}]})) - 2
    answer = (seq - template) // 2
    prompt = seq - template - answer
    rows = [{"prompt": [{"role": "user", "content": words(prompt)}],
             "chosen": [{"role": "assistant", "content": words(answer)}],
             "rejected": [{"role": "assistant", "content": words(answer)}], "source": "synthetic"} for _ in range(n)]
    rows = [tokenize_pair(tok, r) for r in rows]
    length = pair_length(rows[0])
    assert length == seq, f"pairs are {length} tokens, not {seq}"
    Dataset.from_list(rows).to_parquet(str(path))
    return length


def dpo_config(ckpt: Path, unfrozen_yaml: Path, batch: int, accumulation: int, seq: int, pairs: int) -> dict:
    cuda = device() == "cuda"
    return {
        "model": {"path": str(ckpt), "dtype": "bfloat16" if cuda else "float32"},
        "train_mixture": [{"path": "synthetic", "type": "selfplay"}],
        "curriculum": {"examples_per_epoch": pairs, "weights": [{"synthetic": 1}]},
        "dpo": {"learning_rate": 2e-7, "per_device_batch_size": batch, "gradient_accumulation_steps": accumulation,
                "effective_batch_size": batch * accumulation, "max_length": seq, "bf16": cuda,
                "gradient_checkpointing": True, "precompute_ref_log_probs": True, "launcher": "accelerate",
                "deepspeed": str(ROOT / "configs" / "deepspeed-zero3.json")},
        "spectrum": {"unfrozen_parameters_file": str(unfrozen_yaml)},
    }


def dpo_ours(bench: Bench, name: str, raw: dict, pairs: Path) -> dict:
    """One epoch's DPO phase through launch.run_dpo, the code path of `spin-train run`."""
    from spin_train.run.children import Children
    from spin_train.config import from_dict
    from spin_train.training.launch import launch_command, run_dpo
    from spin_train.run.machines import Machine
    from spin_train.run.run_dir import RunDir

    cfg = from_dict(raw)
    run = RunDir(bench.work / f"run-{name}")
    run.start(cfg)
    run.epoch_dir(1).mkdir(parents=True, exist_ok=True)
    shutil.copy(pairs, run.pairs_path(1))
    run.launch_log(1).symlink_to(bench.out / f"dpo-{name}-ours.log")  # written into OUT as it runs
    start = time.perf_counter()
    run_dpo(cfg, run, 1, cfg.model.path, Machine(), Children(run.children_dir()))
    wall = time.perf_counter() - start
    metrics = json.loads((run.partial_checkpoint_path(1) / "train_metrics.json").read_text())
    shutil.rmtree(run.root, ignore_errors=True)  # the saved checkpoint: up to 16 GB of disk
    return {"command": " ".join(launch_command(cfg, run.root, 1, cfg.model.path)), "phase_seconds": wall,
            "step_seconds": metrics["step_seconds"], "peak_memory_gib": metrics["peak_memory_gib"],
            "steps": metrics["steps"], "distributed": metrics["distributed"], "loss": metrics["train_loss"],
            "trainable_parameters": metrics["trainable_parameters"], "total_parameters": metrics["total_parameters"]}


def dpo_plain(bench: Bench, name: str, raw: dict, pairs: Path) -> dict:
    """The same pairs, model and frozen set in benchmarks/plain_trl_dpo.py, under the same accelerate flags."""
    from spin_train.config import from_dict
    from spin_train.training.launch import launch_command, launch_env

    cfg = from_dict(raw)
    d = cfg.dpo
    ours = launch_command(cfg, bench.work, 1, cfg.model.path)
    out = bench.work / f"plain-{name}.json"
    # the launcher and its flags, or the interpreter alone
    cmd = ours[:ours.index("spin_train.training.launch") - 1] + [
        str(ROOT / "benchmarks" / "plain_trl_dpo.py"), "--model", cfg.model.path, "--pairs", str(pairs),
        "--unfrozen", cfg.spectrum.unfrozen_parameters_file, "--batch", str(d.per_device_batch_size),
        "--accumulation", str(d.gradient_accumulation_steps), "--max-length", str(d.max_length),
        "--out", str(out)] + (["--deepspeed", d.deepspeed] if d.deepspeed else []) + (["--bf16"] if d.bf16 else [])
    start = time.perf_counter()
    with open(bench.out / f"dpo-{name}-plain.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=launch_env(),
                       timeout=max(bench.left(), 10))
    wall = time.perf_counter() - start
    result = json.loads(out.read_text())
    return {"command": " ".join(cmd), "phase_seconds": wall, **result}


def steady(seconds: list[float]) -> float:
    """Mean step time without the first step (allocator and kernel warm-up)."""
    rest = seconds[1:] or seconds
    return sum(rest) / len(rest)


def dpo_figures(model, unfrozen_yaml: Path, ours: dict, plain: dict | None, tokens: int, seq: int) -> dict:
    import torch

    patterns = [re.compile(p) for p in yaml.safe_load(unfrozen_yaml.read_text())["unfrozen_parameters"]]
    trainable = {n for n, _ in model.named_parameters() if any(p.search(n) for p in patterns)}
    flops = flops_per_step(model, trainable, tokens, seq)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else ""
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    step = steady(ours["step_seconds"])
    out = {"tokens_per_step": tokens, "sequence": seq, "step_seconds": round(step, 3),
           "tokens_per_second": round(tokens / step, 1), "peak_memory_gib": ours["peak_memory_gib"],
           "phase_seconds": round(ours["phase_seconds"], 1), "steps": ours["steps"], **flops,
           "trainable_share": round(ours["trainable_parameters"] / ours["total_parameters"], 3),
           "loss": ours["loss"], "zero_stage": ours["distributed"]["zero_stage"],
           "mixed_precision": ours["distributed"]["mixed_precision"], "command": ours["command"]}
    if peak:
        out["mfu"] = round(flops["model_flops"] / step / peak, 4)
        out["mfu_6nt"] = round(flops["six_n_t"] / step / peak, 4)
    if plain:
        plain_step = steady(plain["step_seconds"])
        out["plain_trl"] = {"step_seconds": round(plain_step, 3), "phase_seconds": round(plain["phase_seconds"], 1),
                            "steps": plain["steps"], "peak_memory_gib": plain["peak_memory_gib"],
                            "command": plain["command"]}
        out["ratio_step_time"] = round(step / plain_step, 3)
        if plain["steps"] == ours["steps"]:  # whole phases compare only over the same work
            out["ratio_phase_time"] = round(ours["phase_seconds"] / plain["phase_seconds"], 3)
    return out


def dpo_section(bench: Bench, shape: str, model, ckpt: Path, unfrozen_yaml: Path, batch: int, accumulation: int,
                seq: int, steps: int, plain: bool) -> None:
    n_pairs = batch * accumulation * steps
    pairs = bench.work / f"pairs-{shape}.parquet"
    pairs_file(pairs, tokenizer(model.config.vocab_size), n_pairs, seq)
    raw = dpo_config(ckpt, unfrozen_yaml, batch, accumulation, seq, n_pairs)
    tokens = batch * accumulation * 2 * seq  # chosen and rejected
    ours = dpo_ours(bench, shape, raw, pairs)
    key = f"dpo_{shape}"
    bench.record(key, dpo_figures(model, unfrozen_yaml, ours, None, tokens, seq))
    if plain and bench.left() > ours["phase_seconds"] * 1.2:
        bench.record(key, dpo_figures(model, unfrozen_yaml, ours, dpo_plain(bench, shape, raw, pairs), tokens, seq))


def scan_and_train(bench: Bench, shape: str, model, ckpt: Path, scan_s: float, dpo_needs_s: float, train: bool,
                   sizes: tuple[int, int, int, int]) -> None:
    """The Spectrum scan of ``model`` for ``scan_s`` seconds (its top 30 % into a YAML), then, if ``train``, the
    DPO phase with that list; ``sizes``: batch, accumulation, sequence, steps."""
    path = bench.work / f"unfrozen-{shape}.yaml"
    snrs, figure = bench.section(f"scan {shape}", 30, scan, bench, model, scan_s) or ({}, None)
    if not figure:
        return
    bench.record(f"spectrum_scan_{shape}", {**figure, **unfrozen(model, snrs, path)})
    if train:
        model.to("meta")  # in place: the figures need names and shapes only; the GPU is the phase's
        free_gpu()
        bench.section(f"dpo {shape}", dpo_needs_s, dpo_section, bench, shape, model, ckpt, path, *sizes, True)


def tiny_run(bench: Bench, config: Path, cap_s: float) -> dict:
    """`spin-train run` of the tiny config (local generation; DPO through accelerate + DeepSpeed ZeRO-3), its
    status, and the GPU's processes after it."""
    raw = yaml.safe_load(config.read_text())
    raw["dpo"]["deepspeed"] = str(ROOT / "configs" / "deepspeed-zero3.json")
    if bench.smoke:  # a CPU minute: fewer prompts, a smaller evaluation
        raw["curriculum"]["examples_per_epoch"] = 8
        raw["evaluation"].update(max_prompts=4, next_line_prompts=16, max_tokens=32)
    path, run_dir = bench.work / "tiny.yaml", bench.work / "tiny-run"
    path.write_text(yaml.safe_dump(raw))
    cli = [sys.executable, "-m", "spin_train.cli"]
    start = time.perf_counter()
    with open(bench.out / "tiny-run.log", "w") as log:
        proc = subprocess.Popen(cli + ["run", str(path), "--run-dir", str(run_dir)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            exit_code = proc.wait(timeout=min(cap_s, bench.left() - 15))
        except subprocess.TimeoutExpired:  # stopped as a user would (its children go with it); the epochs done count
            proc.terminate()
            exit_code = f"stopped after {cap_s:.0f} s: {proc.wait()}"
    wall = time.perf_counter() - start
    status = json.loads(subprocess.run(cli + ["status", str(run_dir), "--json"], cwd=ROOT, capture_output=True,
                                       text=True, check=True).stdout)
    out = {"command": f"spin-train run {path.name} --run-dir DIR (configs/tiny-cpu.yaml + dpo.deepspeed)",
           "exit": exit_code, "seconds": round(wall, 1),
           "timings": {e: s.get("timings") for e, s in status.get("epochs", {}).items()},
           "eval": {e: _scalars(s["eval"]) for e, s in status.get("epochs", {}).items() if s.get("eval")}}
    if shutil.which("nvidia-smi"):
        out["nvidia_smi_after"] = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv"],
            capture_output=True, text=True).stdout.strip()
    leftover = subprocess.run(["pgrep", "-af", str(run_dir)], capture_output=True, text=True).stdout.strip()
    out["processes_left"] = leftover.splitlines() if leftover else []
    return out


def _scalars(path: str) -> dict:
    """Next-line exact match and the Argdown Bench's solved@1 of an eval.json."""
    data = json.loads(Path(path).read_text())
    return {"next_line_exact": data["next_line"]["exact_match"], "next_line_prompts": data["next_line"]["prompts"],
            "solved@1": data["bench"].get("solved@1")}


def main() -> None:
    ap = options.parser(__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=480.0, help="Seconds for the whole run; sections that would "
                                                                "not fit are skipped and listed.")
    ap.add_argument("--smoke", action="store_true", help="Tiny shapes on the CPU: the whole script in minutes.")
    ap.add_argument("--tiny-config", type=Path, default=ROOT / "configs" / "tiny-cpu.yaml")
    ap.add_argument("--skip", nargs="*", default=[], help="Sections to leave out: gen, dpo1b, scan8b, dpo8b, tiny.")
    args = ap.parse_args()
    bench = Bench(args.out, args.budget, args.smoke)
    bench.record("environment", environment())
    small, large = ("tiny", "tiny2") if args.smoke else ("1b", "8b")
    seq, batch, accumulation, steps = (64, 2, 1, 3) if args.smoke else (1024, 8, 2, 6)

    ckpt = bench.work / f"ckpt-{small}"
    model, _, built = bench.section(f"build {small}", 20, build, small, ckpt) or (None, None, None)
    if model is None:
        return
    bench.record(f"model_{small}", built)
    if "gen" not in args.skip:
        bench.section("generation", 60, generation, bench, ckpt, [2, 4] if args.smoke else [8, 32, 128],
                      16 if args.smoke else 256, 16 if args.smoke else 128)
    scan_and_train(bench, small, model, ckpt, 60, 90, "dpo1b" not in args.skip, (batch, accumulation, seq, steps))
    del model
    free_gpu()
    shutil.rmtree(ckpt, ignore_errors=True)

    if "tiny" not in args.skip:
        tiny = bench.section("tiny run", 60, tiny_run, bench, args.tiny_config, 110)
        if tiny:
            bench.record("tiny_run", tiny)

    if "scan8b" not in args.skip or "dpo8b" not in args.skip:
        ckpt = bench.work / f"ckpt-{large}"
        model, _, built = bench.section(f"build {large}", 90, build, large, ckpt) or (None, None, None)
        if model is not None:
            bench.record(f"model_{large}", built)
            scan_and_train(bench, large, model, ckpt, 30, 150, "dpo8b" not in args.skip,
                           (batch, accumulation, seq, steps))
            del model
            free_gpu()
            shutil.rmtree(ckpt, ignore_errors=True)
    print(f"done, {bench.left():.0f} s of the budget left", flush=True)


if __name__ == "__main__":
    main()
