"""Renderers for AttributionResult: terminal (rich)."""
