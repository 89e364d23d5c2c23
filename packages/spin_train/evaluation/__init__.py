"""What measures a checkpoint.

``checkpoint``: a checkpoint's evaluation (``spin-train eval``, the evaluate phase) on a local model or a
server; ``next_line``: next-line match, exact and Argdown-aware; ``bench``: the Argdown Bench's tasks and
scores; ``floors``: what constant answers, text heuristics and the references score; ``stats``: the tests and
intervals (within a run, and across runs as the unit); ``report``: a run's plots and tables (``spin-train
report``); ``chat``: a terminal chat with a checkpoint (``spin-train chat``).
"""
