"""The storage errors callers handle, so that the layers above the repositories (handlers,
channels, the POS API) need not import SQLAlchemy: ``IntegrityError`` is a write that broke
a constraint, e.g. a unique one another request got to first (a retry may succeed)."""

from sqlalchemy.exc import IntegrityError

__all__ = ["IntegrityError"]
