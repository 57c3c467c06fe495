"""FS002 teardown-close: no-op cases first, then rewrites."""

from helpers import check_noop, check_transformed, findings

HEADER = """\
from flask import Flask
from sqlalchemy.orm import scoped_session

db_session = scoped_session(maker)
app = Flask(__name__)
"""


def test_noop_teardown_calls_remove(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()
""",
    })
    assert findings(result) == []


def test_noop_close_outside_a_teardown(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()


@app.get("/")
def index():
    db_session.close()
    return "ok"
""",
    })
    assert findings(result, "FS002") == []


def test_noop_close_on_something_else_in_a_teardown(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    g_connection = get_connection()
    g_connection.close()
    db_session.remove()
""",
    })
    assert findings(result) == []


def test_noop_close_next_to_remove(tmp_path):
    result = check_noop(tmp_path, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.close()
    db_session.remove()
""",
    })
    assert findings(result) == []


def test_close_in_decorated_teardown(tmp_path):
    result = check_transformed(tmp_path, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.close()  # end of request
""",
    }, {
        "app.py": HEADER + """
@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()  # end of request
""",
    })
    # FS002 took care of it, so FS001 did not add a second teardown.
    assert [f.code for f in result.files[0].applied] == ["FS002"]


def test_close_in_handler_registered_from_another_module(tmp_path):
    check_transformed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/database.py": """\
            from sqlalchemy.orm import scoped_session as ss, sessionmaker

            Session = ss(sessionmaker())


            def cleanup(exc=None):
                Session.close()
        """,
        "pkg/app.py": """\
            from flask import Flask

            from pkg.database import cleanup

            app = Flask(__name__)
            app.teardown_request(cleanup)
        """,
    }, {
        "pkg/database.py": """\
            from sqlalchemy.orm import scoped_session as ss, sessionmaker

            Session = ss(sessionmaker())


            def cleanup(exc=None):
                Session.remove()
        """,
    })
