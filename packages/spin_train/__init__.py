"""spin_train: curriculum self-play fine-tuning (SPIN) for argumentation LMs.

Read phases/__init__.py first: the run and each epoch as tables of phases; run.py runs them.
"""
