"""fixsessions: find and fix SQLAlchemy session-lifecycle bugs in Flask apps."""

__version__ = "0.1.0"
