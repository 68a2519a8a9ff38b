"""Statistics over the results: per action and phase, vitals, attribution, turns, sweeps, machine load."""
