"""The parts of url-anvil's HTTP contract that other processes rely on."""

from __future__ import annotations

# Every answer of url-anvil names the process that gave it; a restarted
# process shows up under a new id.
INSTANCE_HEADER = "X-Anvil-Instance"
