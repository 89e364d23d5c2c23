"""Logikon-style argument mapping over OpenAI-compatible servers, and strong/weak preference pairs.

client (cache, retries) -> stages (issue, reasons, relevance) -> fuzzy (branching, Argdown) -> pairs -> card
"""
