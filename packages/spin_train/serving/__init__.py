"""How a checkpoint answers prompts, in this process or through a server.

``backends``: k candidates per chat prompt from transformers (local), any OpenAI-compatible server, or the
run's vLLM server, with the generation session that restarts a dead server; ``server``: one vLLM process on a
private Unix socket (its command, start, requests, stop); ``run_server``: the run's one server across epochs
(each epoch's weights reloaded in place or by a restart, asleep or stopped during DPO); ``reload_check``: the
served log-probs against the trainer's; ``worker_extension``: our methods inside vLLM's workers.
"""
