"""Error reports (the DEBUG 500 page, mailed reports) that never show a password inside a URL.

Django's ``SafeExceptionReporterFilter`` hides settings by *name* (``*PASSWORD*``,
``*SECRET*``, ``*KEY*``, ``*TOKEN*`` …), but ``DATABASE_URL``,
``TRACKER_DATABASE_URL``, ``CELERY_BROKER_URL``, ``REDIS_URL`` and a cache's
``LOCATION`` carry their password inside the value, and the same URLs reach
the report as request META (``runserver`` copies the environment there) and
as local variables of the failing frames. Every string of the report is
passed through ``url_password_mask``.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter

MASK = "********"
# scheme://[user]:password@ — the password ends at the last "@" before the
# host (passwords may contain "@" when not percent-encoded, never "/").
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s/]*)@", re.IGNORECASE)


def url_password_mask(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` replaced by ``********``."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)


def _masked(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return url_password_mask(value)
    if not isinstance(value, dict | list | tuple | set | frozenset):
        return value
    if depth >= 8:
        # Deep (or self-containing) structures are shown as their masked text.
        return url_password_mask(repr(value))
    if isinstance(value, dict):
        return {key: _masked(item, depth + 1) for key, item in value.items()}
    if isinstance(value, tuple) and "netloc" in getattr(value, "_fields", ()):
        # urlsplit()/urlparse() results keep "user:password@host" apart from the scheme.
        return value._replace(netloc=url_password_mask(f"x://{value.netloc}")[4:])
    items = [_masked(item, depth + 1) for item in value]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # another named tuple
        return type(value)(*items)
    try:
        return type(value)(items)
    except TypeError:
        return items


class CredentialMaskingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus passwords inside URLs masked in settings, request META and frame variables."""

    def cleanse_setting(self, key, value):
        # Called for every setting and every META entry; Django's recursion
        # into dicts, lists and tuples comes back here for each item. Masked
        # first: Django turns named tuples into plain ones, which would part a
        # netloc from its scheme.
        return super().cleanse_setting(key, _masked(value))

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, _masked(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]
