"""Protocol-level load from Locust beside the browser users."""
