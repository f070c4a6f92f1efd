"""The spec language: YAML text -> validated frozen tree -> Plan."""

from __future__ import annotations

from gator_nb.spec.load import load_spec
from gator_nb.spec.model import (
    Array,
    Cores,
    Dependency,
    Group,
    Job,
    License,
    Location,
    Memory,
    Node,
    Spec,
)
from gator_nb.spec.plan import Condition, Plan, PlannedGroup, PlannedJob, plan

__all__ = [
    "Array",
    "Condition",
    "Cores",
    "Dependency",
    "Group",
    "Job",
    "License",
    "Location",
    "Memory",
    "Node",
    "Plan",
    "PlannedGroup",
    "PlannedJob",
    "Spec",
    "load_spec",
    "plan",
]
