"""Kaito's LoRA/QLoRA tuning runtime.

Kept free of heavy imports: the compiler imports ``kaito_runtime.tuning.config`` without torch installed.
The runner lives in ``kaito_runtime.tuning.__main__`` (``python3 -m kaito_runtime.tuning``).
"""
