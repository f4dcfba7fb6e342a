# One-command entry points. Everything installs into ./.venv with the system Python.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint browser mutation clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# deepspeed: the ZeRO-2/ZeRO-3 tests launch it on CPU processes
	$(BIN)/pip install --quiet -e ".[dev,deepspeed]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/geo-r1 demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser tests of geo-r1 serve's page drive Debian's chromium; install it when we can (root + apt).
# Without it they are skipped, except under CI=true, where they fail: the banner says which.
BROWSER_MISSING = printf '%s\n' \
  '************************************************************************' \
  "* BROWSER MISSING: $(1)" \
  '* /usr/bin/chromium + /usr/bin/chromedriver are needed by the browser' \
  '* tests of geo-r1 serve (tests/test_serve_http.py). They will be SKIPPED,' \
  '* and FAIL where CI=true.' \
  '************************************************************************' >&2

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || $(call BROWSER_MISSING,apt-get could not install chromium chromium-driver); \
	  else $(call BROWSER_MISSING,not installed and no root apt-get to install it); fi; \
	fi

test: $(STAMP) lint browser
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

# Mutation testing of the core modules (minutes of CPU; not part of `make test`): see benchmarks/mutation.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet -e ".[mutation]"
	HF_HUB_OFFLINE=1 nice -n 15 $(BIN)/python benchmarks/mutation.py $(GROUPS)

clean:
	rm -rf $(VENV) runs .pytest_cache .mutation
