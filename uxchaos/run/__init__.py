"""One run of a scenario: the engine, the target, progress, interrupts."""
