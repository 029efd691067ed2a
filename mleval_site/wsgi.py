import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mleval_site.settings")
application = get_wsgi_application()
# Import the URLconf (every view, DRF, drf-spectacular) now, while the worker starts, rather
# than on its first request: ~0.7 s that each web process's first visitor waited otherwise.
get_resolver().url_patterns  # noqa: B018 (the access imports them)
