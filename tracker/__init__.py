"""The opt-in local tracker: a personal notebook of load-test results in its own database."""
