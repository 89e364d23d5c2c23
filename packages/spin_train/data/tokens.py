"""The token ids of every training row, built here rather than by TRL from text, and checked before training.

A row trains exactly what the model is served and samples:

- prompt: the chat template rendered with the generation prompt (``prompt_ids``), the ids the server is sent
  (vLLM returns the ids it rendered with ``return_token_ids``; the mix phase compares them);
- a rejected answer from the model: the ids it sampled (``Sample.token_ids``), which end with the end-of-turn
  token only when the model wrote it (a candidate cut by max_tokens has none);
- a gold answer, a preference row's answer, an SFT completion: its text tokenised on its own, then the
  template's end of an assistant turn up to the token that ends generation (``end_of_turn_ids``).

Why: tokenising prompt + answer as one text (TRL's way for conversational rows) merges tokens across the
boundary where the template's prompt ends in a newline and the answer starts with spaces (SmolLM2:
``assistant\\n`` + ``"  <- ..."`` gives the token ``'\\n '``), so the trained prompt lacks its last newline and
the trained answer starts with a token the model never samples after the served prompt.

TRL 1.16 takes the ids as they are: DPOTrainer's rows ``prompt_ids``/``chosen_ids``/``rejected_ids`` (its
dataset preparation is passed by, training/dpo.py), SFTTrainer's ``input_ids`` + ``completion_mask`` (its own
pre-tokenised path). ``check_rows`` verifies every row before either trainer starts.
"""

from __future__ import annotations

from functools import lru_cache

from argdown_lbl.errors import UserError

from .lengths import render_prompt_ids

_PROBE = "\u2063probe\u2063"  # an answer no template alters, to find what a template writes after an answer


class TokenMismatch(UserError):
    """A training row whose ids are not the served prompt followed by the answer's own ids."""


def through(ids: list[int], token) -> list[int]:
    """``ids`` up to and including the first ``token`` (all of them when it is not there)."""
    return ids[:ids.index(token) + 1] if token in ids else ids


def end_of_turn_ids(tokenizer) -> list[int]:
    """The ids the chat template writes after an assistant answer, up to and including the token that ends
    generation (the tokenizer's eos; SmolLM2: ``<|im_end|>``, not the newline the template adds after it)."""
    return list(_end_of_turn(tokenizer))


@lru_cache(maxsize=8)
def _end_of_turn(tokenizer) -> tuple[int, ...]:
    turn = [{"role": "user", "content": "?"}]
    prompt = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    whole = tokenizer.apply_chat_template(turn + [{"role": "assistant", "content": _PROBE}], tokenize=False)
    if not whole.startswith(prompt + _PROBE):
        raise UserError(f"{tokenizer.name_or_path}: the chat template does not render an answer as the generation "
                        "prompt followed by it; training rows cannot be the ids the model is served")
    ids = tokenizer.encode(whole[len(prompt) + len(_PROBE):], add_special_tokens=False)
    return tuple(through(ids, tokenizer.eos_token_id))


def answer_ids(tokenizer, text: str) -> list[int]:
    """A written answer (gold line, preference answer, SFT completion): its own ids, then the end of the turn."""
    return tokenizer.encode(text, add_special_tokens=False) + end_of_turn_ids(tokenizer)


def sampled_answer(tokenizer, ids: list[int]) -> tuple[str, list[int]]:
    """(text, ids) of an answer the model sampled: the ids as sampled, cut after the end-of-turn token where
    the model wrote it (a server may return tokens past it); the text is what those ids spell before it."""
    stop = end_of_turn_ids(tokenizer)[-1:]
    if stop:
        ids = through(ids, stop[0])
    body = ids[:-1] if stop and ids[-1:] == stop else ids
    return _text(tokenizer, body), list(ids)


def content(messages) -> str:
    """The text of a one-message answer (``[{"role": "assistant", "content": ...}]``) or of a string."""
    if isinstance(messages, str):
        return messages
    return messages[-1]["content"]


def tokenize_pair(tokenizer, pair: dict) -> dict:
    """``pair`` (prompt messages, chosen and rejected answers) with ``prompt_ids``, ``chosen_ids`` and
    ``rejected_ids``; a ``rejected_ids`` already there (the sampled ids) is kept."""
    out = dict(pair)
    out["prompt_ids"] = render_prompt_ids(tokenizer, pair["prompt"])
    out["chosen_ids"] = answer_ids(tokenizer, content(pair["chosen"]))
    if out.get("rejected_ids") is None:
        out["rejected_ids"] = answer_ids(tokenizer, content(pair["rejected"]))
    return out


def with_ids(tokenizer, pair: dict) -> dict:
    """A pair of the mix phase with the ids it trains on. A selfplay candidate's ``rejected_ids`` as sampled are
    kept (its text becomes what they spell: the candidates file keeps it without trailing whitespace); one the
    server returned no ids for (``rejected_ids`` None) is its text's own ids, with the end of the turn only
    where max_tokens did not cut it (``rejected_cut``); a preference pair's answers are written answers."""
    pair = dict(pair)
    cut = pair.pop("rejected_cut", False)
    if pair.get("rejected_ids") is not None:
        text, ids = sampled_answer(tokenizer, pair["rejected_ids"])
        pair.update(rejected=[{"role": "assistant", "content": text}], rejected_ids=ids)
    elif "rejected_ids" in pair:
        text = content(pair["rejected"])
        pair["rejected_ids"] = tokenizer.encode(text, add_special_tokens=False) + \
            ([] if cut else end_of_turn_ids(tokenizer))
    return tokenize_pair(tokenizer, pair)


def check_served_prompts(tokenizer, items: list[dict], served: dict) -> int:
    """The ids the server rendered each selfplay prompt to (where it said: ``served`` by prompt id) are the ones
    the pairs train on; -> how many were compared. A difference stops the phase naming the prompt."""
    n = 0
    for item in items:
        if served.get(item["id"]) is not None:
            _same_ids(tokenizer, served[item["id"]], render_prompt_ids(tokenizer, item["prompt"]),
                      f"prompt {item['id']}: the server rendered it to other ids than training uses (its chat "
                      "template or tokenizer differs from the checkpoint's)")
            n += 1
    return n


def sft_row(tokenizer, prompt: list[dict], completion) -> dict:
    """SFTTrainer's pre-tokenised row: the served prompt's ids and the completion's own, loss on the latter."""
    p, a = render_prompt_ids(tokenizer, prompt), answer_ids(tokenizer, content(completion))
    return {"input_ids": p + a, "completion_mask": [0] * len(p) + [1] * len(a)}


def check_rows(tokenizer, rows: list[dict], what: str) -> dict:
    """Every row's prompt ids are the rendered prompt's, and its ids decode to the prompt's text followed by
    each answer's text exactly (indentation included) and the end of the turn where it has one. Rows are
    DPO pairs (prompt, chosen, rejected and their ids) or SFT rows (prompt, completion, input_ids,
    completion_mask). -> counts for the phase's metrics; raises ``TokenMismatch`` naming the row."""
    eot = end_of_turn_ids(tokenizer)
    eot_text = _text(tokenizer, eot)
    tokens = 0
    for i, row in enumerate(rows):
        where = f"{what} row {i}" + (f" ({row['source']})" if row.get("source") else "")
        if "prompt_ids" not in row and "input_ids" not in row:
            raise TokenMismatch(f"{where}: no token ids (written by an older spin-train?); mix it again or start "
                                "a new run dir")
        expected = render_prompt_ids(tokenizer, row["prompt"])
        if "input_ids" in row:  # an SFT row
            n = row["completion_mask"].index(1) if 1 in row["completion_mask"] else len(row["input_ids"])
            prompt_ids, answers = row["input_ids"][:n], [("completion", row["completion"], row["input_ids"][n:])]
        else:
            prompt_ids = row["prompt_ids"]
            answers = [(side, row[side], row[f"{side}_ids"]) for side in ("chosen", "rejected")]
        _same_ids(tokenizer, prompt_ids, expected, f"{where}: the prompt ids differ from the rendered prompt's")
        prompt_text = _text(tokenizer, prompt_ids)
        for side, answer, ids in answers:
            ended = ids[-len(eot):] == eot if eot else False
            text = prompt_text + content(answer) + (eot_text if ended else "")
            _same_text(tokenizer, prompt_ids + ids, text, f"{where}: the {side} ids do not spell the prompt "
                                                           "followed by the answer's text")
            tokens += len(ids)
        tokens += len(prompt_ids)
    return {"rows": len(rows), "tokens": tokens}


def _same_ids(tokenizer, got: list[int], want: list[int], message: str) -> None:
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise TokenMismatch(f"{message}: first difference at token {at} ({_piece(tokenizer, got, at)} instead of "
                        f"{_piece(tokenizer, want, at)}; {len(got)} vs {len(want)} tokens)")


def _same_text(tokenizer, ids: list[int], text: str, message: str) -> None:
    if _text(tokenizer, ids) == text:
        return
    at = next((i for i in range(1, len(ids) + 1)
               if not text.startswith(_text(tokenizer, ids[:i]))), len(ids) + 1) - 1
    raise TokenMismatch(f"{message}: first differing token {at} ({_piece(tokenizer, ids, at)}; the text goes on "
                        f"{text[len(_text(tokenizer, ids[:at])):][:20]!r})")


def _text(tokenizer, ids: list[int]) -> str:
    """What ``ids`` spell, special tokens included, with no clean-up of spaces (the exact text)."""
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _piece(tokenizer, ids: list[int], at: int) -> str:
    return f"{ids[at]} {_text(tokenizer, [ids[at]])!r}" if at < len(ids) else "nothing"

