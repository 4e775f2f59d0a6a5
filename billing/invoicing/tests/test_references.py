"""ISO 11649 payment references: made from invoice numbers, found in remittance texts."""

from billing.invoicing.services.references import (
    is_valid_reference,
    payment_reference_for,
    payment_references_in,
)


def test_a_reference_is_valid_and_found_however_it_is_quoted():
    first = payment_reference_for("INV-2026-000001")
    second = payment_reference_for("INV-2026-000002")
    assert is_valid_reference(first)
    assert not is_valid_reference(first[:-1] + "9")
    assert payment_references_in(f"pay {first} {second} thanks") == [first, second]
    assert payment_references_in(f"{first[:4]} {first[4:8]} {first[8:]}") == [first]
    assert payment_references_in("no reference here") == []
    assert payment_references_in("") == []
