"""`Authorization: Bearer <token>` for the REST API (session auth stays for the browser)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiToken
from mleval_site.db import set_acting_user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a request carrying an API token; no header means "try the next class".

    A header that is present but wrong (unknown, expired or revoked token) is a 401, never a
    silent fall-back to anonymous. `request.auth` is the ApiToken, so throttling can key on it.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: write 'Authorization: Bearer <token>'.")
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        token = ApiToken.objects.authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's user is inactive."))
        if request.method not in ("GET", "HEAD", "OPTIONS"):  # the author of case revisions
            set_acting_user(token.user)  # (reset after the request: ActingUserMiddleware)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to requests without credentials.
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how the Bearer token looks in the OpenAPI schema."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from /accounts/tokens/ (shown once when created).",
        }
