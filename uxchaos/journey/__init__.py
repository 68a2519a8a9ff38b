"""Browser journeys: step types (steps.py) and the runner that times one attempt (runner.py)."""
