"""Results as data for the CLI (and for Python callers): `profile` (latency statistics),
`flops` (multiply-adds by part), `summary` (a model's table), `conv_compare` (Winograd vs
other convolutions), `backends` (what can run here), `demo` (the bundled end-to-end run)."""
