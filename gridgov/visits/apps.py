from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "gridgov.visits"
    verbose_name = _("Visits")

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers
