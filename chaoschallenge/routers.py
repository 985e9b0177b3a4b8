"""Keep the tracker in its own database and everything else out of it."""

from __future__ import annotations

TRACKER_APP = "tracker"
TRACKER_DB = "tracker"


class TrackerRouter:
    def db_for_read(self, model, **hints):
        return TRACKER_DB if model._meta.app_label == TRACKER_APP else "default"

    def db_for_write(self, model, **hints):
        return TRACKER_DB if model._meta.app_label == TRACKER_APP else "default"

    def allow_relation(self, obj1, obj2, **hints):
        # No relation may cross the two databases.
        return (obj1._meta.app_label == TRACKER_APP) == (obj2._meta.app_label == TRACKER_APP)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == TRACKER_APP:
            return db == TRACKER_DB
        return db != TRACKER_DB
