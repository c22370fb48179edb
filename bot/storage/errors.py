"""The storage errors callers handle, so that the layers above the repositories (handlers,
channels, the POS API) need not import SQLAlchemy: ``IntegrityError`` is a write that broke
a constraint, e.g. a unique one another request got to first (a retry may succeed);
``DatabaseError`` is any error of the database or its driver (an import reports it)."""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError

__all__ = ["DatabaseError", "IntegrityError"]
