"""Root URLconf of the anvil role: url-anvil only.

The anvil's patterns are used directly rather than through ``include()`` so
that resolving a request walks one flat list.
"""

from anvil.urls import urlpatterns

__all__ = ["urlpatterns"]
