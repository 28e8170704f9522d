"""DuckDB storage: every SQL statement of cmtui lives in this package (see ``base``)."""

from __future__ import annotations

from .analytics import AnalyticsStore, Filters, Volumes
from .base import (
    APP_MARKER,
    LABEL_SEP,
    MAX_LABEL_LEN,
    MIGRATIONS,
    REVIEW_KINDS,
    SCHEMA_VERSION,
    TAXONOMY_KINDS,
    DatasetInfo,
    ImportResult,
    LabelNameError,
    Review,
    SavedSession,
    StoreBusy,
    StoreError,
    UndoneStep,
    ancestors,
    now,
    sort_labels,
    validate_label_name,
    validate_name,
)
from .datasets import DatasetsStore
from .fields import FieldInfo, FieldsStore
from .labels import LabelsStore
from .models import Condition, ModelsStore, ModelVersion, StreamInfo
from .reviews import ReviewsStore
from .sources import SourceInfo, SourcesStore

__all__ = ["APP_MARKER", "FieldInfo", "AnalyticsStore", "Filters", "Volumes", "Condition", "ModelVersion", "StreamInfo", "LABEL_SEP", "MAX_LABEL_LEN", "MIGRATIONS", "REVIEW_KINDS", "SCHEMA_VERSION",
           "TAXONOMY_KINDS", "DatasetInfo", "ImportResult", "LabelNameError", "Review", "SavedSession", "SourceInfo", "Store",
           "StoreBusy", "StoreError", "UndoneStep", "ancestors", "now", "sort_labels", "validate_label_name",
           "validate_name"]


class Store(LabelsStore, ReviewsStore, DatasetsStore, SourcesStore, ModelsStore, AnalyticsStore, FieldsStore):
    """One DuckDB file. Cheap to construct; every method opens and closes the file.

    Several cmtui processes share one database file and DuckDB lets one process hold it
    at a time, so each unit of work opens it, runs in one transaction and closes it again
    (see ``base``). A message is reviewed by an annotator when that annotator confirmed
    its full label set (possibly empty); its effective labels are those of its latest
    review, and the per-annotator reviews are kept for agreement.
    """

    def reviews_and_taxonomy(self, dataset: str) -> tuple[
            list[str], dict[str, str], list[str], dict[int, dict[str, int | None]], dict[int, str]]:
        """``taxonomy`` and ``effective_reviews`` in one unit of work: a session re-reads
        both before every page and fit, and each opening of the file costs 10-20 ms."""
        with self.transaction() as con:
            return (*self._taxonomy(con, dataset), *self._effective_reviews(con, dataset))
