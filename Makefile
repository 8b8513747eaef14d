# Two commands on a fresh clone:  `make demo`  and  `make test`  (a few minutes).
# `make check` runs the heavy tests (sanitizers, nvcc, cross builds, wheels: the `heavy`
# marker), `make lint` the linters and type checks, `make format` fixes what they can.
# Each creates .venv if absent, installs the CPU build of torch first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then wno-edge with the extras the tests
# and the demo use, and says whether the native library was built (pip hides build output).
#
#   TORCH_INDEX=https://download.pytorch.org/whl/cpu   where to get the CPU torch elsewhere
#   WNO_EDGE_SKIP_NATIVE=1                             pure-Python install (no C++ build)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.wno-edge-installed
TORCH_INDEX ?=
EXTRAS ?= all,test,dev
# The editable install builds runtime/ once: reinstall when its C++ or CMake files change.
NATIVE_SOURCES := $(shell find runtime -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' \
                    -o -name '*.c' -o -name '*.cu' -o -name '*.cuh' -o -name 'CMakeLists.txt' -o -name '*.cmake' -o -name '*.in' \
                    -o -name package.xml \) \
                    -not -path '*/build/*' 2>/dev/null)

.PHONY: demo test check lint format generate install native-status clean wheels physicsnemo-fixtures physicsnemo-check

$(STAMP): pyproject.toml $(wildcard setup.py) $(wildcard tools/build_backend.py) $(NATIVE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@$(MAKE) --no-print-directory native-status
	touch $@

install: $(STAMP)

# One visible line: built, skipped, or not built and why (a failed build falls back quietly).
native-status:
	@$(PY) -c "import os; from wno_edge import native; ok, why = native.available(); \
	skip = os.environ.get('WNO_EDGE_SKIP_NATIVE') == '1'; \
	print('wno-edge: native CPU kernel built (' + why + ')' if ok else \
	'wno-edge: native build skipped (WNO_EDGE_SKIP_NATIVE=1): the PyTorch path will be used' if skip else \
	'\n*** WARNING: wno-edge: the native CPU kernel is NOT available: ' + why + \
	'\n*** The slower PyTorch path will be used. See the build log: $(PY) -m pip install -v -e .\n')"

demo: $(STAMP)
	$(VENV)/bin/wno-edge demo

PYTEST_ARGS ?=
test: $(STAMP)
	$(PY) -m pytest -q -m "not heavy" $(PYTEST_ARGS)

check: $(STAMP)
	$(PY) -m pytest -q -m heavy $(PYTEST_ARGS)

# The same checks as .pre-commit-config.yaml, and CI runs this before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) tools/cpp_format.py --check
	$(PY) tools/gen_headers.py --check

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(PY) tools/cpp_format.py

# The C++ headers written from Python (tools/gen_headers.py): the matrices and the contract.
generate: $(STAMP)
	$(PY) tools/gen_headers.py

# Wheels for robots (tools/build_wheels.py): dist/ gets the sdist and py3-none-manylinux_2_31
# wheels for x86_64 and aarch64, compiled by zig (ziglang, in the dev extra). `make test` builds
# none; `make check` runs tests/test_wheels.py, which builds its own into a temporary folder.
# One architecture: make wheels WHEEL_ARCHS=aarch64
WHEEL_ARCHS ?= x86_64 aarch64
wheels: $(STAMP)
	$(PY) tools/build_wheels.py --out dist $(WHEEL_ARCHS)

# The PhysicsNeMo checkpoints the importer's tests read (tests/fixtures/physicsnemo), made by
# PhysicsNeMo itself in a venv of its own: nvidia-physicsnemo brings a CUDA torch (~5.5 GB).
PNEMO_VENV ?= /tmp/pnemo-venv
physicsnemo-fixtures:
	test -x $(PNEMO_VENV)/bin/python || $(PYTHON) -m venv $(PNEMO_VENV)
	$(PNEMO_VENV)/bin/python -c "import physicsnemo" 2>/dev/null || $(PNEMO_VENV)/bin/pip install --quiet nvidia-physicsnemo
	$(PNEMO_VENV)/bin/python tools/make_physicsnemo_fixtures.py tests/fixtures/physicsnemo

# The live comparison: PhysicsNeMo writes fresh checkpoints and outputs into a temporary folder
# and the importer's tests run against them (one line and exit 0 where PhysicsNeMo cannot be
# installed, e.g. without network).
physicsnemo-check: $(STAMP)
	@test -x $(PNEMO_VENV)/bin/python || $(PYTHON) -m venv $(PNEMO_VENV)
	@$(PNEMO_VENV)/bin/python -c "import physicsnemo" 2>/dev/null || $(PNEMO_VENV)/bin/pip install --quiet nvidia-physicsnemo \
	  || { echo "physicsnemo-check: skipped: nvidia-physicsnemo cannot be installed here"; exit 0; }
	@out=$$(mktemp -d) && $(PNEMO_VENV)/bin/python tools/make_physicsnemo_fixtures.py $$out \
	  && WNO_PHYSICSNEMO_FIXTURES=$$out $(PY) -m pytest -q tests/test_physicsnemo.py tests/test_physicsnemo_import.py; \
	  status=$$?; rm -rf $$out; exit $$status

GPU_PYTHON ?= $(PYTHON)
gpu-check:  # NVIDIA GPU, nvcc, a CUDA build of torch in GPU_PYTHON (tools/gpu_check.py); no GPU: exit 0
	$(GPU_PYTHON) tools/gpu_check.py

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis
