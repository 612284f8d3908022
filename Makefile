# afterword: the two commands the README promises are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint tools bench clean soak fuzz

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# System tools the tests use as independent references (the stock age CLI), and the
# PostgreSQL server the database suites run against (started if installed but down).
tools:
	@if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  pg_ctlcluster --skip-systemctl-redirect "$$(ls /etc/postgresql | head -n1)" main start; fi
	@command -v age >/dev/null 2>&1 || { \
	  echo "installing Debian's age package (the reference CLI the tests open our files with)"; \
	  (apt-get update -qq && apt-get install -y -qq age) >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium package (the browser the page tests drive)"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; }

# The service on the embedded default: SQLite in the user's data directory, 127.0.0.1:8000.
run: $(STAMP)
	$(BIN)/afterword serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz
	$(BIN)/ruff format --check src tests benchmarks fuzz
	$(BIN)/mypy --strict src/afterword/crypto src/afterword/switch
	$(BIN)/mypy src/afterword

# Three parts, a file to a worker (a file's last tests may check what the ones before it
# ran); all run, and either failing fails the target:
# - most suites, on both cores;
# - WAITING: suites that drive real `afterword serve` processes (SIGKILLs, TCP proxies, a
#   typed terminal) and wait on real deadlines of seconds. Mostly idle, so two at a time,
#   after the busy part: beside it, a server's worker would be starved past a deadline;
# - TIMED: suites that time answers against each other (the duress timing differentials,
#   SMTP and webhook timeouts), alone: under a loaded core their clocks would measure the
#   other worker.
WAITING := tests/e2e tests/federation tests/crash tests/cli/test_first_hour.py
TIMED := tests/delivery tests/web/test_coercion.py
test: $(STAMP) tools lint
	@status=0; \
	$(BIN)/pytest -n 2 --dist loadfile $(WAITING:%=--ignore=%) $(TIMED:%=--ignore=%) || status=1; \
	$(BIN)/pytest -n 2 --dist loadfile $(WAITING) || status=1; \
	$(BIN)/pytest $(TIMED) || status=1; \
	exit $$status

test-fast: $(STAMP) tools
	$(BIN)/pytest -m "not slow" -x -q

# Long runs, side by side: the crash suite with SIGKILL crash-restarts during releases
# (SQLite and PostgreSQL; SOAK_RUNS runs per database of up to SOAK_KILLS kills each: about
# 7 a run, as releases finish before the later kills, so about 300 in 20-25 minutes), and
# the lifecycle simulation (tests/simulation) over SIM_JOBS processes: SEEDS=4200 x
# SIM_LIFECYCLES=24 is 100,800 switch lifecycles (docs/reliability.md has the measured
# hour). The crash suite is mostly process start-ups and waits for real deadlines.
# SEED=N replays a failing crash run. SEEDS is a count (N seeds from 1000), a range
# (1-500) or a list (1,5,9); each seed plays SIM_LIFECYCLES switch lifecycles. A failing
# seed is printed with the command that replays it (AFTERWORD_SIM_SEED=N). Ctrl-C stops
# them all (background jobs ignore SIGINT, so the recipe passes it on as SIGTERM).
SOAK_RUNS ?= 24
SOAK_KILLS ?= 8
SEEDS ?= 4200
SIM_LIFECYCLES ?= 24
SIM_JOBS ?= 2
TWO_WORLDS_EXAMPLES ?= 2000
# over HTTP each script costs two servers, two SMTP servers and ~40 requests: ~2.5 s a script
TWO_WORLDS_HTTP_EXAMPLES ?= 500
soak: $(STAMP) tools
	@status=0; \
	AFTERWORD_CRASH_RUNS=$(SOAK_RUNS) AFTERWORD_CRASH_KILLS=$(SOAK_KILLS) \
	  AFTERWORD_SEED="$(SEED)" $(BIN)/pytest tests/crash -q -p no:cacheprovider & pids="$$!"; \
	AFTERWORD_TWO_WORLDS_EXAMPLES=$(TWO_WORLDS_EXAMPLES) $(BIN)/pytest tests/engine/test_two_worlds.py \
	  -q -p no:cacheprovider & pids="$$pids $$!"; \
	AFTERWORD_TWO_WORLDS_EXAMPLES=$(TWO_WORLDS_HTTP_EXAMPLES) $(BIN)/pytest \
	  tests/web/test_two_worlds_http.py -q -p no:cacheprovider & pids="$$pids $$!"; \
	for i in $$(seq 0 $$(($(SIM_JOBS) - 1))); do \
	  AFTERWORD_SEEDS="$(SEEDS)" AFTERWORD_SIM_LIFECYCLES=$(SIM_LIFECYCLES) \
	    AFTERWORD_SIM_SHARD=$$i/$(SIM_JOBS) $(BIN)/pytest tests/simulation -q -p no:cacheprovider \
	    -k keep_every_promise & pids="$$pids $$!"; \
	done; \
	trap 'kill $$pids 2>/dev/null; exit 130' INT TERM HUP; \
	for pid in $$pids; do wait $$pid || status=1; done; exit $$status

# Longer fuzzing: every atheris harness in fuzz/ for FUZZ_SECONDS each (make test gives them
# 4 s), and schemathesis with more examples per API operation.
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	AFTERWORD_FUZZ_SECONDS=$(FUZZ_SECONDS) AFTERWORD_SCHEMATHESIS_EXAMPLES=200 \
	  $(BIN)/pytest tests/fuzz -q

bench: $(STAMP) tools
	@command -v /usr/bin/time >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq time) >/dev/null
	$(BIN)/python -m benchmarks.seal --sizes 1,4 --write-docs
	$(BIN)/python -m benchmarks.scheduler --write-docs
	$(BIN)/python -m benchmarks.checkin --write-docs
	$(BIN)/python -m benchmarks.metrics --write-docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
