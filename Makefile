# The two commands of the README. Everything else is set-up they do themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := var/pitchrec-demo.db
DEMO_URL := sqlite:///$(DEMO_DB)

.PHONY: run test chaos lint typecheck unit install clean

$(BIN)/python:
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "error: pitchrec needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Seed into a temporary file and rename, so an interrupted seed is never mistaken for a demo.
$(DEMO_DB): | $(STAMP)
	@mkdir -p var
	rm -f var/.demo-seeding.db*
	$(BIN)/pitchrec seed --database-url sqlite:///var/.demo-seeding.db --scale 1 --seed 7 \
		--truth-out var/pitchrec-demo.truth.npz --blacklist-out var/pitchrec-demo.blacklist.csv \
		> var/pitchrec-demo.seed.json
	mv var/.demo-seeding.db $(DEMO_DB)

run: $(STAMP) $(DEMO_DB)
	$(BIN)/pitchrec demo --database-url $(DEMO_URL) --blacklist var/pitchrec-demo.blacklist.csv
	@echo
	@echo "Serving the demo on http://127.0.0.1:8000 (Ctrl+C stops). Try:"
	@echo "  curl -s -X POST http://127.0.0.1:8000/api/search/total -H 'Content-Type: application/json' -d '{\"SELF_ID\": 0}'"
	@echo "  curl -s 'http://127.0.0.1:8000/v1/feed/discover?size=10'"
	@echo "  open http://127.0.0.1:8000/docs for the OpenAPI document"
	$(BIN)/pitchrec serve --database-url $(DEMO_URL) --snapshot var/snapshot \
		--blacklist var/pitchrec-demo.blacklist.csv --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

# pytest exits 5 when it collects no test: that is a failure here, said plainly.
test: lint typecheck
	@scripts/ensure-services.sh
	@scripts/ensure-browser.sh
	@status=0; $(BIN)/pytest -q || status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

# The chaos suite (issue 15): Redis and MariaDB outages, a slow Redis and SIGKILLs against
# the real server and archiver processes under load, every accepted event accounted for.
# It takes minutes, so `make test` does not collect it (tests/chaos/conftest.py).
chaos: $(STAMP)
	@scripts/ensure-services.sh
	@status=0; PITCHREC_CHAOS=1 $(BIN)/pytest -q tests/chaos || status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
