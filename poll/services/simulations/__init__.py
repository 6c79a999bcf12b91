"""Simulations kept beside a poll: running one into the database, its records, the demo, jobs."""
