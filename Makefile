# The two commands a newcomer needs: `make demo` and `make test`.
SB := .venv/bin/supportbot
QUESTION ?= How do I reset my VPN password?

.PHONY: demo install test test-fast lint reliability

install:
	bash scripts/bootstrap.sh

## Set up on the embedded defaults (SQLite, embedded Chroma, bundled model, sample FAQ) and ask a question.
demo: install
	$(SB) db upgrade
	$(SB) model install
	$(SB) faq import examples/faq.csv
	$(SB) ask "$(QUESTION)"

## Run the test suite (needs PostgreSQL on 127.0.0.1:5432 for the postgres-marked tests).
test: install
	.venv/bin/python -m pytest

## The fast tier (under 3 minutes here): every test not marked slow, for the edit-test loop. `make
## test` (what CI runs) is the whole suite.
test-fast: install
	.venv/bin/python -m pytest -m "not slow" -q

## ruff (lint and format) and import-linter's one-way layer contracts, as CI runs them.
lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

## Every load, fault, security and bad-input scenario, with figures (docs/reliability.md).
reliability:
	bash scripts/reliability.sh

## `docker compose up` for real: Docker installed if missing, stand-in base images, the real
## Dockerfile and docker-compose.yml, every scenario with figures (docs/reliability.md). Root, Debian.
.PHONY: compose-check
compose-check: install
	bash scripts/compose_check.sh $(COMPOSE_CHECK_ARGS)
