# 乡音 Xiangyin — `make run` to try it, `make test` to test it. Both install what is missing.
# `make test-fast` runs the tiers that need no model (unit, domain, actions, speech) in about a minute.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
REQS := requirements/rasa.txt requirements/app.txt requirements/dev.txt
# The stamp is named by a hash of what install reads (the requirements and pyproject.toml minus
# its [tool.pytest...] section, so editing test settings does not reinstall).
STAMP := $(VENV)/.installed-$(shell { cat $(REQS); awk '/^\[/{skip = /^\[tool\.pytest/} !skip' pyproject.toml; } | sha1sum | cut -c1-12)
# Test tiers (docs/architecture.md); PYTEST_ARGS adds options, e.g. make test-fast PYTEST_ARGS="-k ledger -x".
FAST_TIERS := $(wildcard tests/unit tests/domain tests/actions tests/speech)
PYTEST_ARGS ?=
VALIDATE := $(PY) -m rasa data validate --domain domain.yml --data nlu_data --config config.yml
SYSTEM_PACKAGES := espeak-ng ffmpeg sox libportaudio2 nginx-light libopencore-amrnb0

.PHONY: install system-deps browser-deps run serve chat train seed test test-fast validate bench model clean run-cluster

install: system-deps browser-deps $(STAMP)

system-deps:
	@missing=""; \
	for cmd in espeak-ng ffmpeg sox; do command -v $$cmd >/dev/null || missing="$$missing $$cmd"; done; \
	ldconfig -p 2>/dev/null | grep -q libportaudio || missing="$$missing libportaudio2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> Installing system packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing. Install them with: sudo apt-get install $(SYSTEM_PACKAGES)"; exit 1; \
	  fi; \
	fi

# The console tier's browser (tests/console): Debian's Chromium (Playwright's own download does not
# work offline) and a Chinese font for its screenshots. Installed when run as root; otherwise a
# hint, and the console tests are skipped.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> Installing Chromium and a Chinese font for the console tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else \
	    echo "Note: the console tests need Chromium: sudo apt-get install chromium fonts-wqy-microhei"; \
	  fi; \
	fi

$(STAMP):
	@echo "==> Python environment in $(VENV) (first time: several minutes, Rasa and TensorFlow are large)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade "pip<25" wheel
	@echo "==> Rasa 3.6.21 (declares Python<3.11, runs on 3.11: installed without its metadata check)"
	@$(PIP) install -q --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
	@echo "==> Rasa's requirements, then Xiangyin's"
	@$(PIP) install -q -r requirements/rasa.txt -r requirements/app.txt -r requirements/dev.txt
	@$(PIP) install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@

train: install
	@$(PY) -m bot train

seed: install
	@$(PY) -m bot seed

# `run` and `serve` own their servers (bot/ops/processes.py): one process group, recorded in
# var/run/xiangyin.pid, stopped together on Ctrl-C, SIGTERM, SIGHUP (terminal closed) or when one
# of them exits; taken ports stop the start with the name of what holds them. Loopback only
# unless XIANGYIN_BIND says otherwise (docs/operations-processes.md).
run: install
	@$(PY) -m bot run

serve: install
	@$(PY) -m bot serve

chat: install
	@$(PY) -m bot chat

# Scale-out mode (bot/ops/cluster.py): PostgreSQL + Redis, XIANGYIN_RASA_REPLICAS Rasa servers and
# XIANGYIN_ACTION_REPLICAS action servers behind nginx on :5080. Needs XIANGYIN_DATABASE_URL
# (or XIANGYIN_DATABASE_URL_FILE) = postgresql://...; Ctrl-C stops everything.
run-cluster: install
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else echo "nginx is missing. Install it with: sudo apt-get install nginx-light"; exit 1; fi; }
	@$(PY) -m bot train
	@XIANGYIN_MODE=cluster $(PY) -m bot cluster

model: install
	@$(PY) -m speech.model $(if $(FROM),--from $(FROM),)

# Everything CI runs (.ci/run): the training data validated, the model trained (or reused when
# up to date), then every tier, spread over the cores by pytest-xdist: each server tier (console,
# e2e, scaleout: an xdist_group each, tests/conftest.py) runs whole on one worker, in order, its
# servers started once; the fast tiers fill the other worker's time (a server tier alone leaves
# most of a core idle). A plain `pytest` still runs everything in one process, in testpaths order.
test: install
	@echo "==> Validating the training data (rasa data validate: errors fail, warnings are counted)"
	@log=$$(mktemp); if $(VALIDATE) >"$$log" 2>&1; then \
	  echo "    valid; $$(grep -c 'UserWarning' "$$log") warnings (\`make validate\` lists them)"; rm -f "$$log"; \
	else cat "$$log"; rm -f "$$log"; echo "rasa data validate found errors in domain.yml, nlu_data/ or config.yml"; exit 1; fi
	@$(PY) -m bot train --validated
	@$(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# The tiers that need no trained model and no servers: no training; about a minute on 2 idle
# cores, the tests spread over the cores (pytest-xdist; every test has its own scratch files).
test-fast: install
	@$(PY) -m pytest -m fast -n auto $(FAST_TIERS) $(PYTEST_ARGS)

# The training data checked on its own, every warning shown.
validate: install
	@$(VALIDATE)

bench: install
	@$(PY) -m bot train
	@$(PY) -m bot bench

clean:
	rm -rf var models .pytest_cache
