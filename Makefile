# `make run` serves the demo at http://127.0.0.1:8000; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
# Development defaults: DEBUG on (a production deployment leaves it unset, see README).
export DEBUG ?= true
# `make run` writes emails (invoice PDFs attached) as files here instead of to the terminal.
EMAILS ?= build/emails

.PHONY: venv run test lint format migrate clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

# Web server and a django-q2 worker; Ctrl-C stops both. EMAIL_URL set: mail goes there.
run: export EMAIL_URL ?= filemail:///$(EMAILS)
run: migrate
	$(PY) manage.py seed_demo --host $(HOST)
	@$(PY) manage.py qcluster & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST)

# The whole suite; on PostgreSQL when DATABASE_URL=postgres://... is set.
test: venv
	$(PY) -m pytest $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --fail-on-warn --validate --file /dev/null

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 test_db.sqlite3 staticfiles
