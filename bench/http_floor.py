"""Apps that do nothing, for HTTP's fixed cost measured on its own (bench/journey.py).

`constant` is a bare WSGI app and `flask_app` a Flask app with one route for every path; both
read the body and answer `{}`. Served by gunicorn as the platform is and sent the journey's own
requests by the benchmark's client, they cost what every API call pays before the platform
does anything: gunicorn's parsing and writing, the socket, the client, and for `flask_app`
Flask's request and response.
"""
from __future__ import annotations

from flask import Flask, request

ANSWER = b"{}"


def constant(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]


flask_app = Flask(__name__)


@flask_app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@flask_app.route("/<path:path>", methods=["GET", "POST"])
def answer(path):
    request.get_data()
    return {}
