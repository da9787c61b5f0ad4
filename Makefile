# The two commands of the README: `make demo` and `make test`.
# Both create .venv on first use, install through pyproject.toml + constraints.txt,
# and are quick no-ops for the install step when nothing changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
export ADVREC_DATA ?= $(abspath ../shared/data)

.PHONY: demo test install install-test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[test,text,privacy]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[bench,test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/advrec demo

test: $(VENV)/.installed-test
	$(PY) -m pytest

bench: $(VENV)/.installed-bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
