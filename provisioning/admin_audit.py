"""The drift audit in the operations console: the runs and their findings (read-only), the
report of the latest run grouped by kind with a "Repair" button per finding, and "Run audit
now". Repairs go through `drift_repair`, one call per finding. Imported by
provisioning/admin.py."""

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ReadOnlyMixin
from provisioning.models import DriftAuditRun, DriftFinding, DriftKind
from provisioning.services.audit import drift_audit_run, drift_repair

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)
REPORT_TEMPLATE = "admin/provisioning/drift_report.html"


def _can_repair(request) -> bool:
    codename = get_permission_codename("change", DriftFinding._meta)
    return request.user.has_perm(f"provisioning.{codename}")


def _repair(request, finding: DriftFinding) -> bool:
    try:
        drift_repair(finding=finding, at=timezone.now(), actor=request.user)
    except REFUSED as exc:
        messages.error(
            request, f"{finding.customer}: {finding.kind} not repaired ({error_text(exc)})"
        )
        return False
    return True


class DriftFindingInline(ReadOnlyMixin, admin.TabularInline):
    model = DriftFinding
    extra = 0
    can_delete = False
    fields = readonly_fields = ["customer", "kind", "detail", "repaired_at", "repaired_by"]


@admin.register(DriftAuditRun)
class DriftAuditRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "started_at", "finished_at", "customers_checked", "findings_count"]
    fields = readonly_fields = list_display[1:]
    inlines = [DriftFindingInline]
    date_hierarchy = "started_at"
    change_list_template = "admin/provisioning/drift_audit_change_list.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("report/", view(self.report_view), name=f"{name}_report"),
            path("run/", view(require_POST(self.run_view)), name=f"{name}_run"),
            path(
                "repair/<int:finding_id>/",
                view(require_POST(self.repair_view)),
                name=f"{name}_repair",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "report_url": reverse(self._url("report"))}
        return super().changelist_view(request, extra_context)

    def _url(self, suffix: str) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def report_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = DriftAuditRun.objects.order_by("-started_at", "-pk").first()
        groups = defaultdict(list)
        if run is not None:
            for finding in run.findings.select_related("customer").order_by("kind", "customer"):
                groups[finding.kind].append(finding)
        labels = dict(DriftKind.choices)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Drift between billing and provisioning",
            "run": run,
            "groups": [(labels[kind], groups[kind]) for kind in DriftKind.values if groups[kind]],
            "can_repair": _can_repair(request),
            "run_url": reverse(self._url("run")),
            "repair_url": self._url("repair"),
        }
        return TemplateResponse(request, REPORT_TEMPLATE, context)

    def run_view(self, request):
        if not _can_repair(request):
            raise PermissionDenied
        run = drift_audit_run(at=timezone.now())
        level = messages.SUCCESS if not run.findings_count else messages.WARNING
        self.message_user(
            request,
            f"Audit done: {run.customers_checked} customers, {run.findings_count} findings.",
            level,
        )
        return redirect(self._url("report"))

    def repair_view(self, request, finding_id: int):
        if not _can_repair(request):
            raise PermissionDenied
        finding = get_object_or_404(DriftFinding, pk=finding_id)
        if _repair(request, finding):
            finding.refresh_from_db()
            self.message_user(
                request,
                f"{finding.customer}: {finding.get_kind_display()} — {finding.repaired_by}.",
                messages.SUCCESS,
            )
        return redirect(self._url("report"))


@admin.register(DriftFinding)
class DriftFindingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "run", "customer", "kind", "detail", "repaired_at", "repaired_by"]
    list_filter = ["kind", ("repaired_at", admin.EmptyFieldListFilter)]
    search_fields = ["customer__external_id", "customer__name", "detail"]
    list_select_related = ["run", "customer"]
    fields = readonly_fields = ["run", "customer", "kind", "detail", "repaired_at", "repaired_by"]
    actions = ["repair_selected"]

    def has_act_permission(self, request) -> bool:
        return _can_repair(request)

    @admin.action(description="Repair the selected findings", permissions=["act"])
    def repair_selected(self, request, queryset):
        done = sum(_repair(request, finding) for finding in queryset.order_by("pk"))
        if done:
            self.message_user(request, f"Repaired or already consistent: {done}.", messages.SUCCESS)
