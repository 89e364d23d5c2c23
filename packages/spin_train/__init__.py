"""spin_train: curriculum self-play fine-tuning (SPIN) for argumentation LMs.

The package in wings, each folder's ``__init__.py`` saying what it owns:

- ``run/``: a run of the recipe, a state machine over its run dir (the loop, the phases, several machines);
- ``serving/``: how a checkpoint answers prompts (generation backends, the vLLM server and its reloads);
- ``training/``: what changes weights (the DPO launch and trainer, SFT, Spectrum, loading models);
- ``evaluation/``: what measures them (the Argdown Bench, next-line match, statistics, the report);
- ``data/``: what the run trains on (the mixture, dynamic filtering, token ids, lengths).

Beside them: ``config`` (every key and its check), ``sources`` (whether the models and datasets a config names
exist), ``model_card`` (checkpoints' cards) and ``cli`` (``spin-train``). Read run/phases/__init__.py first.
"""
