"""Root URLconf of the anvil role: url-anvil only."""

from django.urls import include, path

urlpatterns = [
    path("", include("anvil.urls")),
]
