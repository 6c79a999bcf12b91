"""Whom a poll is sent to: audiences, their personal links, and forgetting them afterwards."""
