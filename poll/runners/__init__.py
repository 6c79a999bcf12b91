"""Runners: long-lived work that owns its sessions and commits as it goes, above the services it calls.

The SMS dispatcher, the live simulation and the background jobs each open their own sessions and decide
when to commit; the services they call never commit."""
