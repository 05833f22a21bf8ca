# gridgov: `make run` serves the demo city, `make test` runs the whole suite.
# Both set up everything first (system packages, .venv, private PostGIS under var/).
SHELL := /bin/bash
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= gridgov.settings.dev

.PHONY: setup run dev worker test bench bench-gridding bench-visits-scale lint stop-db demo messages

BENCH_ARGS ?=

setup:
	@scripts/bootstrap.sh all

demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_city --if-empty
	$(PY) manage.py create_demo_users
	$(PY) manage.py load_demo_cases

# The web server (gunicorn, static files included; GRIDGOV_WEB_WORKERS sets its processes), plus a Celery
# worker with beat (escalation sweep, message delivery) in the background.
run: demo
	@scripts/serve.sh $(HOST):$(PORT)

# The same with Django's auto-reloading development server instead of gunicorn.
dev: demo
	@GRIDGOV_DEV_SERVER=1 scripts/serve.sh $(HOST):$(PORT)

worker: setup
	.venv/bin/celery -A gridgov worker -B -l info

test: setup
	DJANGO_SETTINGS_MODULE=gridgov.settings.test $(PY) -m pytest $(PYTEST_ARGS)

bench-gridding: setup
	.venv/bin/pip install -q --disable-pip-version-check -r requirements-bench.txt
	$(PY) bench/gridding.py $(BENCH_ARGS)

bench: demo bench-gridding
	$(PY) bench/run.py
	$(PY) bench/cases.py
	$(PY) bench/visits.py
	$(PY) bench/visits_load.py

# Visit rollups at city scale (1,000,000 households, 5,000,000 visits): about 15 minutes on 2 vCPU.
bench-visits-scale: demo
	$(PY) bench/visits_scale.py $(BENCH_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

messages: setup
	$(PY) manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=var --ignore=bench --ignore=geodata --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

stop-db:
	@scripts/bootstrap.sh stop-db
