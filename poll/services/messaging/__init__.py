"""SMS: the outbox, replies coming in, and conversations that answer by SMS."""
