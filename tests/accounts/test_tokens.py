"""API tokens: shown once, stored hashed, revocable, expiring; the Bearer authentication."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, hash_token

AUTH_URL = "/api/schema/?format=json"  # any endpoint that needs an authenticated user


def bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def rows_containing(text: str) -> list[str]:
    """Every table in the database whose rows, as text, contain `text`."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s',  # noqa: S608
                [f"%{text}%"],
            )
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_page_creates_a_token_shown_once_and_stored_only_hashed(viewer, login):
    client = login(viewer)
    response = client.post("/accounts/tokens/new/", {"name": "CI nightly", "expires_in": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["raw"]
    assert raw.startswith("mle_") and len(raw) > 40
    assert raw in response.content.decode()

    token = ApiToken.objects.get(user=viewer)
    assert token.name == "CI nightly"
    assert token.key_hash == hash_token(raw) and token.prefix == raw[:12]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert rows_containing(raw) == []
    assert rows_containing(raw[12:30]) == []  # not even the secret part

    listing = client.get("/accounts/tokens/").content.decode()
    assert "CI nightly" in listing and token.prefix in listing and raw not in listing
    assert bearer(raw).get(AUTH_URL).status_code == 200
    event = AuditEvent.objects.get(action="token.create")
    assert (event.actor, event.target_id) == (viewer, str(token.pk))


def test_page_lists_only_the_users_own_tokens(viewer, curator, login):
    ApiToken.objects.issue(curator, "curator's script")
    ApiToken.objects.issue(viewer, "viewer's script")
    page = login(viewer).get("/accounts/tokens/").content.decode()
    assert "viewer&#x27;s script" in page and "curator" not in page.replace("curator-", "")


def test_token_without_expiry_and_name_required(outsider, login):
    client = login(outsider)  # every logged-in user may have tokens, even without a role
    response = client.post("/accounts/tokens/new/", {"name": "  ", "expires_in": ""})
    assert response.status_code == 400 and response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()
    client.post("/accounts/tokens/new/", {"name": "forever", "expires_in": ""})
    assert ApiToken.objects.get().expires_at is None


def test_anonymous_cannot_reach_the_token_pages(db, client):
    assert client.get("/accounts/tokens/").status_code == 302
    assert client.post("/accounts/tokens/new/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_revocation_stops_the_token_at_once(viewer, login):
    token, raw = ApiToken.objects.issue(viewer, "script")
    assert bearer(raw).get(AUTH_URL).status_code == 200
    response = login(viewer).post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.status == "revoked"
    assert AuditEvent.objects.filter(action="token.revoke", target_id=str(token.pk)).exists()
    response = bearer(raw).get(AUTH_URL)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, expired or revoked token.", "errors": {}}


def test_users_cannot_revoke_each_others_tokens(viewer, curator, login):
    token, raw = ApiToken.objects.issue(curator, "script")
    assert login(viewer).post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert bearer(raw).get(AUTH_URL).status_code == 200


def test_expired_token_is_refused(viewer):
    _, raw = ApiToken.objects.issue(viewer, "old", timezone.now() - timedelta(seconds=1))
    assert bearer(raw).get(AUTH_URL).status_code == 401
    _, fresh = ApiToken.objects.issue(viewer, "new", timezone.now() + timedelta(hours=1))
    assert bearer(fresh).get(AUTH_URL).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer mle_not-a-real-token",
        "Bearer not-even-the-prefix",
        "Bearer " + "x" * 5000,
        "Bearer caf\u00e9",
    ],
)
def test_bad_credentials_get_401_in_the_error_format(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get(AUTH_URL)
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "errors"}


def test_no_credentials_get_401_with_bearer_challenge(db, client):
    response = client.get(AUTH_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_inactive_users_token_is_refused(viewer):
    _, raw = ApiToken.objects.issue(viewer, "script")
    viewer.is_active = False
    viewer.save()
    assert bearer(raw).get(AUTH_URL).status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(viewer):
    token, raw = ApiToken.objects.issue(viewer, "script")
    assert token.last_used_at is None
    bearer(raw).get(AUTH_URL)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    bearer(raw).get(AUTH_URL)
    token.refresh_from_db()
    assert token.last_used_at == first  # no write within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    bearer(raw).get(AUTH_URL)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=1)


def test_admin_issues_a_token_for_another_user_shown_once(admin_user, engineer, login):
    admin_user.is_superuser = False  # the admin role's permissions, not superuser bypass
    admin_user.save()
    client = login(admin_user)
    assert client.get("/admin/accounts/apitoken/add/").status_code == 200
    response = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": engineer.pk, "name": "deploy bot", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    raw = response.context["raw"]
    token = ApiToken.objects.get(user=engineer)
    assert token.key_hash == hash_token(raw) and raw in response.content.decode()
    assert rows_containing(raw) == []
    assert bearer(raw).get(AUTH_URL).status_code == 200

    changelist = client.get("/admin/accounts/apitoken/").content.decode()
    assert "deploy bot" in changelist and raw not in changelist
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert bearer(raw).get(AUTH_URL).status_code == 401
    actions = set(AuditEvent.objects.filter(actor=admin_user).values_list("action", flat=True))
    assert actions == {"token.create", "token.revoke"}


def test_viewer_cannot_use_the_token_admin(viewer, login):
    assert login(viewer).get("/admin/accounts/apitoken/").status_code == 302
