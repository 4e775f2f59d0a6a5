"""Benchmarks run the app as production does (DEBUG off), so they supply what the
production settings require; their child processes inherit it."""

import os
import secrets


def production_env() -> None:
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
