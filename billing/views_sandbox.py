"""The sandbox gateway's 3-D Secure page: where a customer "authenticates" a sandbox charge,
as a bank's page would. The outcome reaches billing as a gateway report (a webhook would)."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from billing.gateways.base import Outcome
from billing.gateways.sandbox import SandboxAdapter, sandbox_charge_settle
from billing.models import SandboxCharge
from billing.services.payments import payment_gateway_report


@require_http_methods(["GET", "POST"])
def sandbox_authenticate(request, reference: str):
    charge = SandboxCharge.objects.filter(reference=reference).first()
    if charge is None:
        raise Http404
    if request.method == "POST" and charge.status == Outcome.REQUIRES_ACTION:
        charge = sandbox_charge_settle(
            reference=reference, succeed=request.POST.get("result") == "succeed"
        )
        payment_gateway_report(  # what the gateway's webhook would say
            reference=charge.reference,
            result=SandboxAdapter()._result(charge),
            at=timezone.now(),
            idempotency_key=charge.idempotency_key,
        )
        return redirect(request.path)
    return render(request, "billing/sandbox_authenticate.html", {"charge": charge})
