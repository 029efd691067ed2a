"""API tokens: shown once, stored only as a SHA-256 hash.

A token is 256 bits from `secrets`, so a fast hash is the right tool (nothing to brute-force,
unlike a password) and lets one indexed lookup find the token on every API request.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

TOKEN_PREFIX = "mle_"
DISPLAY_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is written at most this often per token, so a busy script costs no extra writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_token() -> str:
    """A new plain token: a recognisable prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        """Tokens that authenticate now: not revoked and not expired."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=Now()), revoked_at=None)

    def issue(self, user, name: str, expires_at: datetime | None = None) -> tuple["ApiToken", str]:
        """Create a token for `user`; returns it with the plain token, which is never stored."""
        token = self.model(user=user, name=name, expires_at=expires_at)
        raw = token.set_new_key()
        token.save()
        return token, raw

    def authenticate(self, raw: str) -> "ApiToken | None":
        """The active token whose hash matches `raw` (with its user), or None."""
        if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
            return None
        token = self.active().select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is not None:
            token.touch()
        return token


class ApiToken(models.Model):
    """A personal API token: `Authorization: Bearer <token>` acts as its user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'CI nightly'.")
    prefix = models.CharField(
        max_length=DISPLAY_PREFIX_LENGTH,
        editable=False,
        help_text="The token's first characters: not secret, shown to tell tokens apart.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Leave empty for a token that does not expire."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "api_tokens"
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""), name="%(app_label)s_%(class)s_name_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"

    def set_new_key(self) -> str:
        """Give this (unsaved) token a fresh key; returns the plain token to show once."""
        raw = generate_token()
        self.prefix = raw[:DISPLAY_PREFIX_LENGTH]
        self.key_hash = hash_token(raw)
        return raw

    def revoke(self) -> None:
        """Stop the token working at once; the row stays so its history can be read."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk, revoked_at=None).update(revoked_at=self.revoked_at)

    def touch(self) -> None:
        """Record use, writing only when the stored time is older than LAST_USED_RESOLUTION."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            self.last_used_at = now
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)


class AuditEvent(models.Model):
    """Who did what to which rows: one row per user action, written by `accounts.audit.record`.

    `actor_name` keeps the username after the user is deleted; `target_*` names the row (or, for
    bulk actions, the kind of rows and `count`), `detail` holds the action's parameters.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=50)
    target_type = models.CharField(max_length=50, blank=True, default="")
    target_id = models.CharField(max_length=50, blank=True, default="")
    count = models.IntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at", "-id"]
        indexes = [
            # The /audit/ page lists newest first, filtered by action, actor or target.
            models.Index(fields=["-created_at"], name="accounts_audit_created"),
            models.Index(fields=["action", "-created_at"], name="accounts_audit_action"),
            models.Index(fields=["target_type", "target_id"], name="accounts_audit_target"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action=""), name="%(app_label)s_%(class)s_action_required"
            ),
        ]

    def __str__(self) -> str:
        target = f" {self.target_type} {self.target_id}".rstrip()
        return f"{self.actor_name or 'system'} {self.action}{target}"
