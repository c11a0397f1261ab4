"""Plans as JSON-able data and back, for the emit worker process (:mod:`..emit.worker`): plans cross the process
boundary as data, never as pickles.

cattrs structures the frozen dataclasses from their type hints (tuples stay tuples); the catalog entries inside a
plan are pydantic models and go through pydantic's own ``model_dump``/``model_validate``. A plan comes back equal
to the one that was sent (tests/emit/test_pipeline.py checks every example's and the benchmark's).
"""

from __future__ import annotations

import functools
from typing import Any

import cattrs
from pydantic import BaseModel

from .model import Plan


def plan_to_data(plan: Plan) -> dict[str, Any]:
    return _converter().unstructure(plan)


def plan_from_data(data: dict[str, Any]) -> Plan:
    return _converter().structure(data, Plan)


@functools.cache
def _converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook_func(_is_model, lambda model: model.model_dump(mode="json", by_alias=True))
    converter.register_structure_hook_func(_is_model, lambda data, model: model.model_validate(data))
    return converter


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
