"""Handlers: one module per feature; ``bot.handlers.registry`` lists them in order."""
