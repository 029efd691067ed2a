import os

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mleval_site.settings")
application = get_asgi_application()
get_resolver().url_patterns  # noqa: B018 (imports the views at start-up: see wsgi.py)
