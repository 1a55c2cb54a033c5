"""The Django example as an ASGI application, for uvicorn (or any ASGI server).

``python examples/django_app --port 8000`` configures Django from its command line and serves
this through uvicorn. Served directly (``uvicorn django_app.asgi:application`` with
``examples/`` on the path), it runs with the example's default settings.
"""

from __future__ import annotations

from django.conf import settings
from django.core.asgi import get_asgi_application

from django_app.settings import build_settings

if not settings.configured:
    settings.configure(**build_settings())

application = get_asgi_application()
