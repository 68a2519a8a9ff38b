"""Renderers: pure functions from a run's records to text. Only the CLI/engine write files."""
