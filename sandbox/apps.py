from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Sandbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from loadtest import hooks
        from sandbox.place import sandbox_place_make
        from sandbox.services import sandbox_spec_build

        hooks.place_register(name="sandbox", factory=sandbox_place_make, spec_build=sandbox_spec_build)
