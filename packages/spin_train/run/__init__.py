"""A run: one config in one run dir, epoch after epoch, resumable after kill -9 at any point.

``loop`` runs the tables of ``phases/`` (a module per phase, named as its state); ``run_dir`` owns the run
dir's layout, atomic writes and typed state, and the only way phases read each other's outputs; ``machines``
lets several machines meet in a shared run dir; ``children`` starts the processes the run needs (vLLM, DPO
ranks) so that none outlives it; ``faults`` holds the stall points the kill tests use; ``dry_run`` prints what a
run would do; ``tracking`` writes the per-epoch figures to TensorBoard.
"""
