"""Helpers every layer may use: `io` (atomic writes, path checks), `shapes` (parsing
resolutions and dims), `lazy` (package attributes imported on first use)."""
