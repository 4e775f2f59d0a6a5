"""Loaded by pytest before Django's settings (`-p config.pytest_env` in pyproject.toml): the
tests run with the development defaults (DEBUG=true, so no SECRET_KEY is needed). Tests of
the production settings start their own processes with their own environment."""

import os

os.environ.setdefault("DEBUG", "true")
