"""The sandbox gateway's 3-D Secure page: where a customer "authenticates" a sandbox charge,
as a bank's page would. The outcome reaches billing as a gateway report (a webhook would)."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from billing.payments.gateways.base import Outcome
from billing.payments.gateways.sandbox import SandboxAdapter, sandbox_charge_settle
from billing.payments.models.sandbox import SandboxCharge
from billing.payments.services.payments import payment_gateway_report


@require_http_methods(["GET", "POST"])
def sandbox_authenticate(request, reference: str):
    charge = SandboxCharge.objects.filter(reference=reference).first()
    if charge is None:
        raise Http404
    # Where "Return to the merchant" leads (Stripe's return_url): a page of this site only.
    return_to = request.GET.get("return_to", "")
    if not url_has_allowed_host_and_scheme(return_to, allowed_hosts={request.get_host()}):
        return_to = ""
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
        return redirect(request.get_full_path())
    context = {"charge": charge, "return_to": return_to}
    return render(request, "billing/sandbox_authenticate.html", context)
