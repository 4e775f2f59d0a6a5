"""The mails a customer gets (receipts, invoices, payment failures, trial and renewal notices,
…): each rendered from templates/notices/<kind>.subject.txt, .txt and .html (HTML with a
plain-text alternative), sent once per event and recorded as a `Notice`.

Once per key, at most once: `notice_send` records the Notice (unique `dedupe_key`) in a
transaction and the mail goes out after that commits; a second call with the same key, from
a retried task or a second worker, finds the row and sends nothing. A crash or an SMTP error
between the commit and the delivery loses that one mail: the row then says `queued` (crash)
or `failed` with the error (SMTP), never `sent`, and staff can resend what matters (the
invoice mail). We prefer that to mailing a customer twice, as the invoice mail always has.

The callers (billing's documents, dunning and notices packages) give the context: every
template shows `seller` (the business's identity, as the invoice PDF does) and, for an
invoice, its payment reference and amounts formatted like the PDF's.
"""

import logging
from collections.abc import Callable, Iterable
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from customers.models import (
    NON_ESSENTIAL_NOTICES,
    Contact,
    Customer,
    Notice,
    NoticeKind,
    NoticeStatus,
)

logger = logging.getLogger("customers.notices")

# (filename, content, mimetype)
Attachment = tuple[str, bytes, str]
Attachments = Iterable[Attachment] | Callable[[], Iterable[Attachment]]


def notice_is_essential(kind: str) -> bool:
    return kind not in NON_ESSENTIAL_NOTICES


def notice_template(kind: str) -> str:
    return f"notices/{kind}"


def notice_recipients(customer: Customer, *, invoice_contacts: bool = False) -> list[str]:
    """The customer's email, then (for invoice mails) its contacts who receive invoices; each
    address once."""
    emails = [customer.email]
    if invoice_contacts:
        contacts = Contact.objects.filter(customer=customer, receives_invoices=True)
        emails += contacts.order_by("pk").values_list("email", flat=True)
    seen: set[str] = set()
    recipients = []
    for email in emails:
        if email and email.lower() not in seen:
            seen.add(email.lower())
            recipients.append(email)
    return recipients


def _with_kind(kind: str, context: dict) -> dict:
    return {"kind": kind, "optional": not notice_is_essential(kind), **context}


def notice_subject(kind: str, context: dict) -> str:
    text = render_to_string(f"{notice_template(kind)}.subject.txt", _with_kind(kind, context))
    return " ".join(text.split())


def notice_render(kind: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) of a notice kind with `context`."""
    template = notice_template(kind)
    subject = notice_subject(kind, context)
    context = _with_kind(kind, context)
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    return subject, text, html


def notice_message(
    *,
    kind: str,
    context: dict,
    recipients: list[str],
    attachments: Iterable[Attachment] = (),
) -> EmailMultiAlternatives:
    """The mail: from DEFAULT_FROM_EMAIL, replies to the seller, text with an HTML alternative."""
    subject, text, html = notice_render(kind, context)
    seller_email = (context.get("seller") or {}).get("email")
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[seller_email] if seller_email else None,
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    return message


def notices_opt_out_set(*, customer: Customer, kinds: list[str]) -> Customer:
    """The optional notices `customer` does not want (the portal's "Emails" page, the admin).
    Essential kinds cannot be turned off: naming one is an error that changes nothing."""
    refused = sorted(set(kinds) - {str(kind) for kind in NON_ESSENTIAL_NOTICES})
    if refused:
        raise ValidationError(
            {"notices_opted_out": f"These mails are always sent: {', '.join(refused)}."},
            code="essential_notice",
        )
    customer.notices_opted_out = sorted(set(kinds))
    customer.save(update_fields=["notices_opted_out", "updated_at"])
    return customer


def site_url(name: str) -> str:
    """An absolute link into the site for a mail: SITE_URL + the URL named `name`."""
    return settings.SITE_URL.rstrip("/") + reverse(name)


def notice_exists(key: str) -> bool:
    return Notice.objects.filter(dedupe_key=key).exists()


def notice_send(
    *,
    customer: Customer,
    kind: str,
    key: str,
    context: dict,
    attachments: Attachments = (),
    related: str = "",
    recipients: list[str] | None = None,
    skip: str = "",
    on_record: Callable[[Notice], None] | None = None,
) -> Notice | None:
    """Mail the `kind` notice to the customer once per `key`; the Notice recorded (None: a
    notice of that key was recorded before, nothing is sent).

    Non-essential kinds the customer opted out of, and a customer without an address, are
    recorded as skipped; `skip` (a NoticeStatus) records another reason to skip (e.g. an
    invoice delivered in the portal only). `attachments` may be a callable: it is called only
    when the mail will be sent (rendering a PDF is slow). `on_record(notice)` runs in the
    transaction that records a notice to be sent (e.g. the billing event of an invoice mail).
    May run inside the caller's transaction: the mail then waits for that to commit.
    """
    if kind not in NoticeKind.values:
        raise ValueError(f"Unknown notice kind {kind!r}.")
    key = key[:200]
    if notice_exists(key):
        return None  # fast path; the unique key below is what makes it safe
    if recipients is None:
        recipients = notice_recipients(customer)
    status = NoticeStatus.QUEUED
    if skip:
        status = skip
    elif not notice_is_essential(kind) and kind in (customer.notices_opted_out or []):
        status = NoticeStatus.SKIPPED_OPTED_OUT
    elif not recipients:
        status = NoticeStatus.SKIPPED_NO_RECIPIENT
    message = None
    subject = notice_subject(kind, context) if status != NoticeStatus.QUEUED else ""
    if status == NoticeStatus.QUEUED:
        files = list(attachments() if callable(attachments) else attachments)
        # rendered before the transaction: a PDF takes a while
        message = notice_message(
            kind=kind, context=context, recipients=recipients, attachments=files
        )
        subject = message.subject
    notice = Notice(
        customer=customer,
        kind=kind,
        dedupe_key=key,
        recipients=recipients if message is not None else [],
        subject=subject[:300],
        template=notice_template(kind),
        related=related[:200],
        attachments=[name for name, _, _ in message.attachments] if message else [],
        status=status,
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                notice.save()
        except IntegrityError:
            if notice_exists(key):
                return None  # recorded meanwhile by another worker
            raise
        if message is not None:
            if on_record is not None:
                on_record(notice)
            transaction.on_commit(partial(_deliver, notice.pk, message), robust=True)
    return notice


def _deliver(notice_id: int, message: EmailMultiAlternatives) -> None:
    """After the commit: send, then record the outcome (never raised: at most once)."""
    try:
        message.send()
    except Exception as error:  # an SMTP refusal: recorded, not retried
        logger.exception("notice #%s could not be sent", notice_id)
        Notice.objects.filter(pk=notice_id).update(
            status=NoticeStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        return
    Notice.objects.filter(pk=notice_id).update(status=NoticeStatus.SENT, sent_at=timezone.now())


def notice_list(*, customer: Customer, limit: int = 20) -> list[Notice]:
    return list(Notice.objects.filter(customer=customer).order_by("-created_at", "-pk")[:limit])
