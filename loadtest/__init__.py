"""The load-test engine: Locust in its own process, chaos plans, per-second truth."""
