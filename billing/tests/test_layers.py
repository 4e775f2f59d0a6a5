"""The layers of billing's packages and of the apps hold and no sibling modules import each
other in a circle (import-linter, as `make lint` runs it); an upward import or a cycle
breaks them; the effects that travel up are wired."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from billing.events.services import EVENT_TASKS
from billing.invoicing import hooks as invoicing_hooks
from billing.invoicing.models.invoices import Invoice
from billing.payments import hooks as payments_hooks
from billing.payments.models.payments import Payment, PaymentMethod

ROOT = Path(__file__).resolve().parents[2]
APPS = ["api", "catalog", "customers", "billing", "provisioning", "reports", "portal"]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own lint-imports, fixed arguments
        [str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def lint_with(tree: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """lint-imports on `tree` with `line` added to `module` for the run."""
    path = tree / module
    original = path.read_text()
    path.write_text(f"{original}\n{line}  # noqa\n")
    try:
        return lint(tree)
    finally:
        path.write_text(original)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the apps and the contracts, to break."""
    root = tmp_path_factory.mktemp("layers")
    ignore = shutil.ignore_patterns("__pycache__", "static", "migrations")
    for app in APPS:
        shutil.copytree(ROOT / app, root / app, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def test_the_code_keeps_both_contracts():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a lower billing package importing a higher one
        ("billing/events/rows.py", "from billing.dunning import services", "billing.dunning"),
        (
            "billing/invoicing/services/invoices.py",
            "from billing.payments.services import collection",
            "billing.payments",
        ),
        # billing importing an app above it
        ("billing/usage/alerts.py", "from provisioning import models", "provisioning"),
    ],
)
def test_an_upward_import_breaks_a_contract(tree, module, line, broken):
    result = lint_with(tree, module, line)
    assert result.returncode != 0
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"- {importer} -> {broken}" in result.stdout


def test_a_cycle_between_siblings_breaks_a_contract(tree):
    module, line = (
        "billing/payments/gateways/base.py",
        "from billing.payments.services import payments",
    )
    result = lint_with(tree, module, line)
    assert result.returncode != 0
    assert "No cycles are allowed in billing.payments." in result.stdout
    assert "Contracts: 2 kept, 1 broken." in result.stdout


def test_the_upward_effects_are_connected():
    """billing/apps.py connects payments and dunning to invoicing's and payments' hooks."""
    assert invoicing_hooks.invoice_finalized.has_listeners(Invoice)
    assert invoicing_hooks.invoice_paid.has_listeners(Invoice)
    assert invoicing_hooks.invoice_closed.has_listeners(Invoice)
    assert payments_hooks.payment_failed.has_listeners(Payment)
    assert payments_hooks.payment_method_added.has_listeners(PaymentMethod)
    for name in ("invoice_collect", "autopay_phrase", "paid_with"):
        assert callable(invoicing_hooks.provider(name))
    assert EVENT_TASKS["invoice.paid"] == (
        "billing.invoicing.tasks.invoice_receipt_send_task",
        "invoice_id",
    )
