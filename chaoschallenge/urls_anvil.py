"""Root URLconf of the anvil role: url-anvil only.

The anvil's patterns are used directly rather than through ``include()`` so
that resolving a request walks one flat list. Errors outside the views are
JSON too (used when DEBUG is off), like every other anvil answer.
"""

from anvil.urls import urlpatterns

handler404 = "anvil.views.not_found"
handler500 = "anvil.views.server_error"

__all__ = ["handler404", "handler500", "urlpatterns"]
