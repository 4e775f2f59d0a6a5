"""`{% customer_notices customer as notices %}`: the latest mails sent to a customer (the
"Mails" section of the customer 360 page)."""

from django import template

from customers.notices import notice_list

register = template.Library()


@register.simple_tag
def customer_notices(customer, limit: int = 20):
    return notice_list(customer=customer, limit=limit)
