"""Answers as they arrive: one per link, the counters kept with them, refused attempts."""
