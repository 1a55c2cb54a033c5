"""The example JSON API on Django: ``python examples/django_app --port 8000``."""
