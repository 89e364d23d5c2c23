"""spin_train: curriculum self-play fine-tuning (SPIN) for argumentation LMs.

Read run.py first: the epoch loop and its run directory.
"""
