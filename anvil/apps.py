from django.apps import AppConfig


class AnvilConfig(AppConfig):
    name = "anvil"
