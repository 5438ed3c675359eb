"""Apps that do nothing, for HTTP's fixed cost measured on its own (bench/journey.py).

`constant` is a bare WSGI app and `flask_app` a Flask app with one route for every path; both
read the body and answer `{}`. Served by gunicorn as the platform is and sent the journey's own
requests by the benchmark's client, they cost what every API call pays before the platform
does anything: gunicorn's parsing and writing, the socket, the client, and for `flask_app`
Flask's request and response. `busy` is `constant` busy for BUSY_MS (an environment variable)
milliseconds before it answers, as long as a platform request takes: what gunicorn, the socket
and the client cost beyond that time is more than for an answer given at once.
"""
from __future__ import annotations

import os
import time

from flask import Flask, request

ANSWER = b"{}"


def constant(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]


def busy(environ, start_response):
    until = time.perf_counter() + float(os.environ["BUSY_MS"]) / 1000
    while time.perf_counter() < until:
        pass
    return constant(environ, start_response)


flask_app = Flask(__name__)


@flask_app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@flask_app.route("/<path:path>", methods=["GET", "POST"])
def answer(path):
    request.get_data()
    return {}
