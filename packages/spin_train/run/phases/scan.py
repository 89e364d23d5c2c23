"""The scan phase, once per run (the run table, as epoch 0): the base model's weight matrices by Spectrum's
signal-to-noise ratio, the top spectrum.top_percent per type written as the DPO phase's trainable list."""

from __future__ import annotations

from .context import Context


def scan(ctx: Context, epoch: int = 0) -> dict:
    from ...training import spectrum
    from ...training.models import load_model, resolve_device

    sp, run = ctx.cfg.spectrum, ctx.run
    if run.spectrum_path.exists():  # written last: a kill came after the scan was done
        return {}
    model = load_model(ctx.cfg.model.path, ctx.cfg.model)
    device = resolve_device("auto")
    snrs = spectrum.scan(model, sp.include_embeddings, device)  # SVDs on the GPU if any
    del model
    if device.startswith("cuda"):  # vLLM wants ~92 % of the GPU free at start-up: give the cache back
        import torch

        torch.cuda.empty_cache()
    names = spectrum.top(snrs, sp.top_percent / 100)
    spectrum.write_snr_json(snrs, run.snr_path)
    spectrum.write_yaml(names, run.spectrum_path)  # last: its presence means the scan is done
    ctx.log(f"spectrum: {len(names)} weight matrices trainable (top {sp.top_percent:g} % per type) -> "
            f"{run.spectrum_path}")
    return {"trainable_matrices": len(names)}
