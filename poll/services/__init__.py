"""Use cases. Each function takes the session first, may flush, and never commits."""
