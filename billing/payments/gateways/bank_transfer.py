"""Bank transfer / manual payments: nothing to call. The customer pays by transfer quoting the
invoice's payment reference; staff record or import what arrived
(billing.payments.services.bank_transfers)."""

from billing.payments.gateways.base import Adapter, GatewayError


class BankTransferAdapter(Adapter):
    charges = False

    def customer_setup(self, *, customer_id: int, email: str, name: str) -> str:
        return ""

    def payment_method_store(self, *, gateway_customer_id: str, token: str):
        raise GatewayError("Bank transfers are not stored methods.", code="not_supported")

    def charge(self, request):
        raise GatewayError("A bank transfer cannot be charged.", code="not_supported")

    def charges_list(self, *, since):
        return []
