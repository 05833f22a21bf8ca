"""GeoJSON pagination (a FeatureCollection with count/next/previous; `page_size` up to 5,000), and pages
without a total for long lists."""

from typing import Any

from rest_framework_gis.pagination import GeoJsonPagination


class FeaturePagination(GeoJsonPagination):
    page_size = 500
    max_page_size = 5000


class QuickPage:
    """A page of a long list without its total: one row more than the page says whether there is a next
    one (counting a district's every case on each view is what a list must not do). Quacks like the
    `Page` templates use: number, object_list, has_next/has_previous, next/previous_page_number."""

    paginator = None  # no total

    def __init__(self, queryset: Any, size: int, number: Any) -> None:
        try:
            self.number = max(1, int(number))
        except (TypeError, ValueError):
            self.number = 1
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        self._more = len(rows) > size
        self.object_list = rows[:size]

    def has_next(self) -> bool:
        return self._more

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self._more or self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def __iter__(self) -> Any:
        return iter(self.object_list)
