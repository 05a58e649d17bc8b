"""The deployment files are read by people deploying elsewhere: keep them correct."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_docker_compose_defines_every_service_with_a_healthcheck():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("db", "redis", "web", "worker", "worker-heavy", "beat"):
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
        assert services[name]["healthcheck"]["test"], name


def test_docker_compose_runs_the_right_processes():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert "config.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    # One worker per queue, so the minute sweep never waits behind a recompute.
    from django.conf import settings

    heavy = settings.CELERY_HEAVY_QUEUE
    assert services["worker"]["command"][4:6] == ["-Q", settings.CELERY_TASK_DEFAULT_QUEUE]
    assert services["worker-heavy"]["command"][:6] == [
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        heavy,
    ]
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} == {heavy}
    assert services["db"]["image"].startswith("postgres")
    assert services["redis"]["image"].startswith("redis")
    for name in ("web", "worker", "worker-heavy", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_dockerfile_and_env_example_exist_and_agree():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile and "collectstatic" in dockerfile
    example = (ROOT / ".env.example").read_text()
    names = ("SECRET_KEY", "PSEUDONYM_KEY", "NUM_PROXIES", "DATABASE_URL", "REDIS_URL")
    for var in (*names, "ALLOWED_HOSTS"):
        assert f"{var}=" in example


def test_docker_compose_trusts_one_proxy_and_is_reached_only_through_it():
    """The web service sits behind one TLS proxy: NUM_PROXIES defaults to 1 there, and the
    port is published on the loopback so no client reaches the app around the proxy."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    assert web["environment"]["NUM_PROXIES"] == "${NUM_PROXIES:-1}"
    assert web["ports"] == ["${WEB_PUBLISH:-127.0.0.1:8000}:8000"]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])


def test_settings_refuse_the_insecure_key_without_debug():
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_web_runs_gunicorn_with_the_config_file_and_it_is_valid():
    import subprocess
    import sys

    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    config = web[web.index("-c") + 1]
    assert (ROOT / config).is_file()
    assert f'"-c", "{config}"' in (ROOT / "Dockerfile").read_text()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    done = subprocess.run(
        [str(gunicorn), "--check-config", "-c", config, "config.wsgi:application"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_make_demo_takes_a_port_and_the_readme_says_so():
    """Issue 19: ``make demo PORT=…`` worked but was undocumented."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.fail("make is needed (the README's two commands are make targets)")
    dry = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "runserver 127.0.0.1:8123" in dry.stdout
    readme = (ROOT / "README.md").read_text()
    assert "make demo PORT=8001" in readme and "http://127.0.0.1:8001/" in readme
