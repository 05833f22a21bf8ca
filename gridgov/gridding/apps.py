from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GriddingConfig(AppConfig):
    name = "gridgov.gridding"
    verbose_name = _("Gridding")
