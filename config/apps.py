from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project's own settings package as an app: it registers the deploy checks."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self):
        from config import checks  # noqa: F401 - registers the checks
