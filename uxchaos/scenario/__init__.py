"""Scenarios: the model, loading and validating YAML, the step catalogue, expectations."""
