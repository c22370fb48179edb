"""The conversation core: events in, replies out, one unit of work per event, whatever the channel."""
