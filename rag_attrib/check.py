"""``rag_attrib.model_check`` under its earlier name, kept importable."""

from .model_check import CheckReport, check_model

__all__ = ["CheckReport", "check_model"]
