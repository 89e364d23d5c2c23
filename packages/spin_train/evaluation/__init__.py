"""What measures a checkpoint.

``bench``: next-line match and the Argdown Bench, on a local model or a server (``spin-train eval``);
``floors``: what constant answers, text heuristics and the references score; ``stats``: the tests and
intervals (within a run, and across runs as the unit); ``report``: a run's plots and tables (``spin-train
report``); ``chat``: a terminal chat with a checkpoint (``spin-train chat``).
"""
