"""argdown_lbl: Argdown parsing and line-by-line datasets for argumentation LMs."""

__version__ = "0.1.0"
