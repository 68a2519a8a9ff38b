"""Virtual users: many at once, each in its own browser context, and the load generator's own starvation."""
