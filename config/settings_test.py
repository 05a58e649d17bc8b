"""Settings for the test suite (pyproject.toml: ``DJANGO_SETTINGS_MODULE``).

``config.settings`` with DEBUG on unless the environment says otherwise, as in development: the
development keys are accepted and the HTTPS-only settings stay off, so the test client and the
live server of the browser tests speak plain HTTP. (pytest-django still runs each test with
``settings.DEBUG = False``, as Django's test runner does.) Production settings are tested in
subprocesses with a production environment: ``tests/test_security_settings.py``.

``os.environ`` rather than a settings override: subprocesses the tests start (workers,
``manage.py`` runs) inherit it.
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: F403

# The baseline bots' automatic refresh (forecasts.tasks): on only where a test asks for it.
BASELINE_BOTS = env.bool("BASELINE_BOTS", default=False)  # noqa: F405
