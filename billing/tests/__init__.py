"""Factories and helpers the billing packages' tests share (each package keeps its tests)."""
