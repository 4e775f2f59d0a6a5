"""`error_text`: one line for a person, from whatever a service refused with."""

from django.core.exceptions import ValidationError
from django_fsm import TransitionNotAllowed

from api.errors import Conflict, error_text


def test_error_text_of_each_kind_of_refusal():
    assert error_text(ValidationError({"amount": ["Too big."], "note": ["Too long."]})) in (
        "Too big. Too long.",
        "Too long. Too big.",
    )
    assert error_text(ValidationError("Only one.")) == "Only one."
    assert error_text(Conflict("Credited already.", code="already_credited")) == (
        "Credited already."
    )
    assert error_text(TransitionNotAllowed("Can't switch from paid.")) == (
        "Can't switch from paid."
    )
    assert error_text(RuntimeError()) == "RuntimeError"
