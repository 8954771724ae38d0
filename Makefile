# The two set-up commands of the README: `make demo` and `make test`.
PY := .venv/bin/python
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest

.PHONY: install demo test test-slow test-all
install:
	bash tools/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PYTEST) -m "not slow" -q --durations=20

test-slow: install
	$(PYTEST) -m slow -q --durations=20

test-all: install
	$(PYTEST) -q
