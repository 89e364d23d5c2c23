"""Methods of ours inside each vLLM worker (``--worker-extension-cls spin_vllm_extension.Reload``).

vLLM imports this file in its own interpreter (its own venv): the run copies it into the server's private
folder as ``spin_vllm_extension.py`` and puts that folder on the server's PYTHONPATH, so it must import
nothing of the project (and nothing the vLLM venv lacks).
"""


class Reload:
    def refresh_tied_lm_head(self) -> str:
        """After ``reload_weights``: make a tied LM head compute with the reloaded embedding.

        vLLM ties the head to the embedding once, at construction (one Parameter for both). Its layerwise
        reload copies the checkpoint's embedding into that Parameter, so the head's weight is new; but a tied
        checkpoint has no ``lm_head.weight``, the head loads nothing, and what its kernel derived from the weight
        at start-up is never derived again: vLLM on CPU packs the weight for its GEMM (oneDNN or sgl-kernel,
        ``dispatch_cpu_unquantized_gemm``) in ``process_weights_after_loading``, and that packed copy keeps the
        old weights. Running that step again on the head packs the new ones. -> what was done.
        """
        model = self.model_runner.model
        head = getattr(model, "lm_head", None)
        embed = getattr(getattr(model, "model", None), "embed_tokens", None)
        if head is None or embed is None or head.weight is not embed.weight:
            return "untied"
        head.quant_method.process_weights_after_loading(head)
        return "refreshed"
