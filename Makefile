# The README's two commands: `make test` and `make book`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export FEDLIB_CACHE ?= $(HOME)/.cache/fedlib

.PHONY: test book reproduce bench clean-book clean venv

venv: $(STAMP)

# Reinstall only when the dependency list changes; an existing venv makes this a no-op.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fedlib needs Python 3.11+"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	FEDLIB_PROFILE=smoke $(PY) -m pytest

# The execution cache keys a page on its own cells only: when artifacts or fedlib change, every page
# re-executes (fedlib/book_inputs.py says why).
BOOK_INPUTS := _build/.book-inputs
book: $(STAMP)
	@$(PY) -m fedlib.book_inputs check $(BOOK_INPUTS) || rm -rf _build/.jupyter_cache _build/.doctrees
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@$(PY) -m fedlib.book_inputs write $(BOOK_INPUTS)

# Recompute every result artifact instead of loading the committed ones.
reproduce: $(STAMP)
	FEDLIB_FORCE=1 $(MAKE) book

# Performance benchmarks (benchmarks/run.py --help), not part of `make test`: about 10 min on 2 cores.
bench: $(STAMP)
	$(PY) benchmarks/run.py

clean-book:
	rm -rf _build .jupyter_cache

clean: clean-book
	rm -rf $(VENV)
