"""The engine: scheduling, the job wrapper and backends."""

from __future__ import annotations

__all__: list[str] = []
