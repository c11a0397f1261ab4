"""Inference server of the transformers runtime: ``python3 -m kaito_runtime.inference --model=... ``."""
