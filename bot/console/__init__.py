"""The owner's tools behind the console: figures, charts, exports, the audit log, staff invites."""
