"""Bringing customers back: automatic triggers, broadcasts, segments, their reports."""
