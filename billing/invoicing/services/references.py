"""Structured creditor references (ISO 11649, "RF18 INV2026000001"): what a customer quotes on
a bank transfer so that it is matched to the invoice it pays."""

import re

_RF = re.compile(r"RF\s?(\d\d)\s?((?:[0-9A-Z]\s?){1,21})", re.IGNORECASE)


def _numeric(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text))


def payment_reference_for(number: str) -> str:
    """The RF reference of an invoice number (its letters and digits, at most 21)."""
    body = re.sub(r"[^0-9A-Z]", "", number.upper())[-21:]
    check = 98 - _numeric(f"{body}RF00") % 97
    return f"RF{check:02d}{body}"


def is_valid_reference(reference: str) -> bool:
    compact = re.sub(r"\s", "", reference.upper())
    if not re.fullmatch(r"RF\d\d[0-9A-Z]{1,21}", compact):
        return False
    return _numeric(compact[4:] + compact[:4]) % 97 == 1


def payment_references_in(text: str) -> list[str]:
    """Every valid RF reference quoted in a remittance text, compacted, in order."""
    text = (text or "").upper()
    starts = [match.start() for match in re.finditer(r"RF\s?\d\d", text)]
    found = []
    for start, end in zip(starts, [*starts[1:], len(text)][: len(starts)], strict=True):
        match = _RF.match(text, start, end)  # a reference ends where the next one starts
        if match is None:
            continue
        compact = re.sub(r"\s", "", match.group(0))
        # The body may run into the next word: take the longest valid prefix.
        for length in range(len(compact), 4, -1):
            if is_valid_reference(compact[:length]):
                found.append(compact[:length])
                break
    return found


# An invoice number as customers write it: "INV-2027-000001", "inv 2027/000001", "INV2027000001".
_NUMBER = re.compile(r"\b([A-Z][A-Z0-9]{0,19}?)[\s\-_/.#]*(\d{4})[\s\-_/.]*(\d{6,})\b", re.I)


def invoice_numbers_in(text: str) -> list[str]:
    """Every invoice number (`SERIES-YEAR-NNNNNN`) quoted in a text, normalized, in order."""
    found: list[str] = []
    for match in _NUMBER.finditer(text or ""):
        number = f"{match.group(1).upper()}-{match.group(2)}-{match.group(3)}"
        if number not in found:
            found.append(number)
    return found
