"""Read-mostly admin for load-test runs: they are records of what happened, not things to edit."""

from __future__ import annotations

from django.contrib import admin, messages

from loadtest import services
from loadtest.models import ChaosEvent, LoadTestRun

TARGET_SHOWN = 40


class ChaosEventInline(admin.TabularInline):
    model = ChaosEvent
    extra = 0
    can_delete = False
    fields = ("index", "kind", "at_s", "duration_s", "applied_second", "cleared_second", "fault_id", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LoadTestRun)
class LoadTestRunAdmin(admin.ModelAdmin):
    # Short columns: the list must fit a laptop's window beside its filters.
    list_display = ("id", "target_shown", "origin_shown", "status", "created_at", "total_requests", "total_failures",
                    "rps_shown", "p95_shown")
    list_filter = ("status", "origin")
    search_fields = ("target_url", "error")
    inlines = [ChaosEventInline]
    actions = ["cancel_runs"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in LoadTestRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Runs are created through run_create (validation, chaos events), not by hand.
        return False

    @admin.display(description="target", ordering="target_url")
    def target_shown(self, obj: LoadTestRun) -> str:
        return obj.target_url if len(obj.target_url) <= TARGET_SHOWN else obj.target_url[: TARGET_SHOWN - 1] + "…"

    @admin.display(description="origin", ordering="origin")
    def origin_shown(self, obj: LoadTestRun) -> str:
        return f"{obj.origin} {obj.origin_ref}".strip()

    @admin.display(description="req/s", ordering="rps")
    def rps_shown(self, obj: LoadTestRun) -> str:
        return f"{obj.rps:,.1f}" if obj.rps is not None else "—"

    @admin.display(description="p95 ms", ordering="latency_p95_ms")
    def p95_shown(self, obj: LoadTestRun) -> str:
        return f"{obj.latency_p95_ms:,.1f}" if obj.latency_p95_ms is not None else "—"

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset) -> None:
        cancelled = sum(services.run_cancel(run_id=run_id) for run_id in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{cancelled} run(s) cancelled or asked to stop.", messages.SUCCESS)
