"""Django finds the sessionward_* management commands here; nothing to import."""

__all__: list[str] = []
