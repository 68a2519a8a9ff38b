"""Where a browser lives: launched locally, a remote endpoint, or a browser server."""
