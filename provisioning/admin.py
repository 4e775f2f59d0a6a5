"""Provisioning in the operations console; each area's admin lives in its own module."""
