from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.audit import record
from accounts.models import ApiToken, AuditEvent
from mleval_site.admin_utils import LargeTableAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins issue tokens for any user: the plain token is shown once, on the next page."""

    list_display = (
        "name",
        "user",
        "prefix",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_select_related = ("user",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    search_help_text = "A token name, its first characters (mle_...) or a username."
    raw_id_fields = ("user",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ("revoke_selected",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name", "expires_at")
        return ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if not change:
            obj._plain_token = obj.set_new_key()  # held in memory for response_add only
        super().save_model(request, obj, form, change)
        action = "token.change" if change else "token.create"
        record(request.user, action, obj, name=obj.name, prefix=obj.prefix, user=obj.user_id)

    def response_add(self, request, obj: ApiToken, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API token created",
            "token": obj,
            "raw": obj._plain_token,
        }
        response = TemplateResponse(request, "admin/accounts/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        return token.status

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        active = queryset.filter(revoked_at=None)
        ids = list(active.values_list("pk", flat=True))
        count = active.update(revoked_at=timezone.now())
        record(request.user, "token.revoke", "apitoken", count=count, ids=ids)
        self.message_user(request, f"{count} tokens revoked.")


@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdmin):
    """Read-only: the trail is written by the application, never edited by hand."""

    list_display = ("created_at", "actor_name", "action", "target_type", "target_id", "count")
    list_filter = ("action", "target_type")
    search_fields = ("actor_name", "=target_id")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
