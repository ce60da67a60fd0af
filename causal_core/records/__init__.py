"""Record extraction: parameter-golf record folders -> InterventionsFile (see docs/records.md)."""
from __future__ import annotations

from causal_core.records.pipeline import RecordsError, coverage, extract_records

__all__ = ["extract_records", "coverage", "RecordsError"]
