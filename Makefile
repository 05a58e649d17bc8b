# Takeoff: the two commands a newcomer needs are `make demo` and `make test`.
export UV_PYTHON_DOWNLOADS ?= never
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PORT ?= 8000

.PHONY: demo test install lint format typecheck worker beat bench

$(UV):
	python3 -m pip install --user --quiet uv

install: $(UV)
	$(UV) sync --frozen

## Run the site with its demo content on SQLite, tasks in-process: http://127.0.0.1:$(PORT)/
# DEBUG is off unless turned on (production default); the demo is development, so it is on here.
demo: export DEBUG := true
demo: install
	$(UV) run python manage.py migrate --no-input
	$(UV) run python manage.py load_demo
	$(UV) run python manage.py runserver 127.0.0.1:$(PORT)

## Run the test suite (SQLite by default; DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis)
test: install
	$(UV) run pytest

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

typecheck: install
	$(UV) run mypy

# Development workers: DEBUG on unless the environment says otherwise.
worker beat: export DEBUG ?= true
worker: install
	$(UV) run celery -A config worker -Q default,heavy --loglevel=info

beat: install
	$(UV) run celery -A config beat --loglevel=info

bench: install
	for script in bench/bench_*.py; do $(UV) run python $$script || exit 1; done
