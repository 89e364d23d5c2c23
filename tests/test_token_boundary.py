"""Every training row is the served prompt's ids followed by the answer's own: read from the trainers' collated
batches, on the real SmolLM2 (whose prompt ends in ``assistant\\n``, which merges with an indented answer when
prompt and answer are tokenised as one text) and on the tiny model.

The cases: an indented gold line, an indented rejected candidate (as sampled), a candidate cut by max_tokens
(no end-of-turn token), a multi-line answer, a non-ASCII line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spin_fixtures import require_real_base, tiny_config

PROMPT = [{"role": "user", "content": "Continue the Argdown map line by line.\n\n```argdown\n[C]: A claim.\n"}]
GOLDS = ["  <- <O>: An objection.", "    + <S>: Support, four spaces deep.", "[C]: A claim.\n  + <R>: A reason.",
         "  - <Ü>: Überzeugung — naïve, „quoted“."]


@pytest.fixture(params=["smollm2", "tiny"])
def model(request, tiny_model) -> Path:
    return require_real_base() if request.param == "smollm2" else tiny_model


def _tokenizer(model: Path):
    from spin_train.config import ModelConfig
    from spin_train.training.models import load_tokenizer

    return load_tokenizer(str(model), ModelConfig(path=str(model)))


def _sampled(tok, text: str, ended: bool) -> list[int]:
    """Ids a model may sample for ``text`` after the served prompt: each piece as the tokenizer writes it on its
    own (never merged with the prompt's last newline), the end of the turn only where it ``ended``."""
    from spin_train.data.tokens import end_of_turn_ids

    return tok.encode(text, add_special_tokens=False) + (end_of_turn_ids(tok) if ended else [])


def _pairs(tok) -> list[dict]:
    """Pairs as the mix phase builds them: sampled rejected ids kept, written answers tokenised on their own."""
    from spin_train.data.tokens import sampled_answer, tokenize_pair

    rows = []
    for i, gold in enumerate(GOLDS):
        cut = i == 1  # a candidate max_tokens cut: trained without an end of turn
        text, ids = sampled_answer(tok, _sampled(tok, "  + <X>: a rival line" + (" that runs on" if cut else ""),
                                                 ended=not cut))
        rows.append(tokenize_pair(tok, {"prompt": PROMPT, "chosen": [{"role": "assistant", "content": gold}],
                                        "rejected": [{"role": "assistant", "content": text}], "rejected_ids": ids,
                                        "source": "case"}))
    return rows


def _trained_sequences(batches) -> list[tuple[int, ...]]:
    out = []
    for batch in batches:
        for ids, mask in zip(batch["input_ids"], batch["attention_mask"]):
            out.append(tuple(ids[mask.bool()].tolist()))
    return out


def test_the_served_prompt_ends_in_a_newline_that_an_indented_answer_would_merge_with(model):
    """Why the rows are built from ids: tokenised as one text, the prompt + an indented answer do not start
    with the prompt's ids on SmolLM2 (the test of the premise; the tiny model's tokenizer does not merge)."""
    from spin_train.data.lengths import render_prompt_ids

    tok = _tokenizer(model)
    prompt = render_prompt_ids(tok, PROMPT)
    whole = tok.apply_chat_template(PROMPT + [{"role": "assistant", "content": GOLDS[0]}], tokenize=True,
                                    return_dict=True)["input_ids"]
    merges = whole[:len(prompt)] != prompt
    assert merges == (model.name == "SmolLM2-135M-Instruct")
    if merges:
        assert tok.decode(whole[len(prompt) - 1:len(prompt)]) == "\n "  # the prompt's newline and a space


def test_the_dpo_trainer_trains_the_served_prompt_followed_by_each_answers_own_ids(model, spin_dataset, tmp_path):
    from datasets import Dataset

    from spin_train.config import from_dict
    from spin_train.data.lengths import render_prompt_ids
    from spin_train.training.models import load_model
    from spin_train.data.tokens import check_rows, end_of_turn_ids
    from spin_train.training.dpo import _trainer_class, dpo_args

    tok = _tokenizer(model)
    pairs = _pairs(tok)
    assert check_rows(tok, pairs, "cases")["rows"] == len(GOLDS)
    cfg = from_dict(tiny_config(model, spin_dataset, dpo={"per_device_batch_size": 2, "gradient_accumulation_steps": 2,
                                                          "max_length": 512}))
    trainer = _trainer_class()(model=load_model(str(model), cfg.model), args=dpo_args(cfg, tmp_path / "out"),
                               train_dataset=Dataset.from_list(pairs), processing_class=tok)
    trained = sorted(_trained_sequences(trainer.get_train_dataloader()))
    served = render_prompt_ids(tok, PROMPT)
    expected = sorted(tuple(served + p[side]) for p in pairs for side in ("chosen_ids", "rejected_ids"))
    assert trained == expected
    eot = end_of_turn_ids(tok)
    for p in pairs:
        assert p["chosen_ids"] == tok.encode(p["chosen"][0]["content"], add_special_tokens=False) + eot
        assert tok.decode(served + p["chosen_ids"], skip_special_tokens=False) == \
            tok.decode(served, skip_special_tokens=False) + p["chosen"][0]["content"] + tok.decode(eot)
    assert pairs[1]["rejected_ids"][-len(eot):] != eot  # the cut candidate: no end of turn it never wrote
    assert all(p["rejected_ids"][-len(eot):] == eot for i, p in enumerate(pairs) if i != 1)


def test_the_sft_trainer_trains_the_served_prompt_and_learns_only_the_completions_own_ids(model, tmp_path):
    from spin_train.data.lengths import render_prompt_ids
    from spin_train.training.sft import SFTSettings, _rows, build_trainer
    from spin_train.data.tokens import end_of_turn_ids

    tok = _tokenizer(model)
    given = [{"prompt": PROMPT, "completion": [{"role": "assistant", "content": g}]} for g in GOLDS]
    settings = SFTSettings(model=str(model), data="cases", batch_size=2, max_length=512)
    rows, too_long = _rows(settings, tok, lambda m: None, given)
    assert too_long == 0
    trainer, _, _ = build_trainer(settings, rows, tok, tmp_path / "work")
    served = render_prompt_ids(tok, PROMPT)
    seen = []
    for batch in trainer.get_train_dataloader():
        for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
            ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
            assert ids[:len(served)] == served and all(x == -100 for x in labels[:len(served)])
            assert labels[len(served):] == ids[len(served):]  # the loss on every completion token
            seen.append(tuple(ids[len(served):]))
    assert sorted(seen) == sorted(tuple(tok.encode(g, add_special_tokens=False) + end_of_turn_ids(tok))
                                  for g in GOLDS)


def test_a_row_with_text_tokenised_ids_is_stopped_naming_the_row_and_the_token(model):
    """TRL's way (prompt + answer tokenised as one text, cut at the common prefix) is what the check refuses
    on SmolLM2; so is a prompt rendered without its generation prompt, on any model."""
    from spin_train.data.tokens import TokenMismatch, check_rows

    tok = _tokenizer(model)
    good = _pairs(tok)[0]
    no_generation_prompt = dict(good, prompt_ids=tok.apply_chat_template(PROMPT, tokenize=True,
                                                                         return_dict=True)["input_ids"])
    with pytest.raises(TokenMismatch, match=r"cases row 0 \(case\): the prompt ids differ .* first difference at "
                                            r"token \d+"):
        check_rows(tok, [no_generation_prompt], "cases")
    whole = tok.apply_chat_template(PROMPT + good["chosen"], tokenize=True, return_dict=True)["input_ids"]
    if whole[:len(good["prompt_ids"])] == good["prompt_ids"]:
        return  # the tiny tokenizer does not merge across the boundary
    n = next(i for i, (a, b) in enumerate(zip(whole, good["prompt_ids"])) if a != b)
    trl_way = dict(good, chosen_ids=whole[n:], prompt_ids=good["prompt_ids"][:n])
    assert n == len(good["prompt_ids"]) - 1  # the merge takes the prompt's last token, its newline
    with pytest.raises(TokenMismatch, match=rf"first difference at token {n} \(nothing instead of 198 '\\n'"):
        check_rows(tok, [trl_way], "cases")
    merged = dict(good, chosen_ids=whole[n:])  # the right prompt, the merged answer
    with pytest.raises(TokenMismatch, match=r"the chosen ids do not spell the prompt followed by the answer's "
                                            rf"text: first differing token {n + 1} \(\d+ '\\n '"):
        check_rows(tok, [merged], "cases")


def test_a_server_that_renders_a_prompt_to_other_ids_stops_the_mix_and_text_only_candidates_get_their_own_ids(
        tiny_model):
    """Planted: the server's prompt ids one token off. And a candidate whose ids a server did not return: its
    text's own ids, with the end of the turn only where max_tokens did not cut it."""
    from spin_train.data.lengths import render_prompt_ids
    from spin_train.data.tokens import TokenMismatch, check_served_prompts, end_of_turn_ids, with_ids

    tok = _tokenizer(tiny_model)
    items = [{"id": "s#1", "prompt": PROMPT}, {"id": "s#2", "prompt": PROMPT}]
    ours = render_prompt_ids(tok, PROMPT)
    assert check_served_prompts(tok, items, {"s#1": ours}) == 1  # s#2: the server said nothing
    with pytest.raises(TokenMismatch, match=rf"prompt s#1: the server rendered it to other ids .* first difference "
                                            rf"at token {len(ours) - 1}"):
        check_served_prompts(tok, items, {"s#1": ours[:-1] + [ours[-1] + 1]})
    pair = {"prompt": PROMPT, "chosen": [{"role": "assistant", "content": GOLDS[0]}],
            "rejected": [{"role": "assistant", "content": "  + <X>: cut"}], "rejected_ids": None, "source": "s"}
    eot = end_of_turn_ids(tok)
    cut, ended = with_ids(tok, dict(pair, rejected_cut=True)), with_ids(tok, dict(pair, rejected_cut=False))
    assert cut["rejected_ids"] == tok.encode("  + <X>: cut", add_special_tokens=False)
    assert ended["rejected_ids"] == cut["rejected_ids"] + eot and "rejected_cut" not in ended
