"""Serve a run over HTTP: a drawing page and a JSON API (``create_app``)."""
