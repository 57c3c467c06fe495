"""fixsessions: find and fix SQLAlchemy session-lifecycle bugs in Flask apps.

Installed, this folder is the package ``fixsessions`` (see pyproject.toml's package-dir):
``fixsessions.cli`` is the command line, ``fixsessions.codemods`` the rules and the engine.
"""
