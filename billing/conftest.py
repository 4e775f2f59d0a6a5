"""Fixtures the tests of every billing package share."""

import pytest
from django.utils.module_loading import import_string

from billing.invoicing.services import bill_runs


@pytest.fixture
def bill_run_tasks_inline(monkeypatch):
    """Queued bill run tasks run at once in this process (as django-q2's sync mode would);
    the names of the tasks queued are listed on the returned list."""
    queued = []

    def run_now(path, *args, **kwargs):
        queued.append(path)
        return import_string(path)(*args, **kwargs)

    monkeypatch.setattr(bill_runs, "async_task", run_now)
    return queued
