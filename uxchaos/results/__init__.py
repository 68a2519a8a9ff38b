"""What a run records: samples and fault events, results.jsonl and run.json, read back as run data."""
