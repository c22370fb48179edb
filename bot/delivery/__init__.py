"""Messages nobody asked for right now: the outbox and the notices written into it."""
