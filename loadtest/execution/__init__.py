"""Executing a run: its life cycle (``lifecycle``) and the parts it ties together.

``runner_process`` (the load runner's process), ``prober`` (health probes),
``chaos_schedule`` (faults at their offsets), ``sample_store`` (what was seen,
with a heartbeat) and ``places`` (where those run and how they reach the target).
"""
