"""url-anvil: the standard, deterministic HTTP service participants build around."""
