"""What changes weights.

``launch``: the DPO phase in child processes (one process, accelerate, DeepSpeed ranks over machines) and the
entry point each rank runs; ``dpo``: TRL's DPOTrainer on the epoch's pairs; ``sft``: ``spin-train sft``;
``spectrum``: the signal-to-noise scan and the frozen set; ``models``: loading models and tokenizers, devices;
``base_model``: a GGUF file or folder made a run's base (``spin-train base``); ``tiny``: the embedded tiny model.
"""
