"""Who may do what: operators, their sessions and tokens, and the audit trail of what they did."""
