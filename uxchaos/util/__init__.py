"""Small helpers shared by every layer: durations, loopback networking, processes, URL masking, HTTP GET."""
