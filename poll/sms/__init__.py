"""SMS: message text and segments, gateways (simulated, Kannel, log), and reading replies."""
