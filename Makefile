# kaito-compile — `make run` compiles examples/ into out/; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test check schemas docs fuzz bench clean-venv system-packages

# The compiler alone: a light install (no torch).
$(VENV)/.compiler: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

# Everything the tests need: the runtime extra (torch CPU wheel, transformers, peft, …), test tools, kubectl.
$(VENV)/.test: pyproject.toml $(VENV)/.compiler
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[runtime,test]'
	touch $@

.tools/bin/kubectl: tools/ensure_kubectl.py | $(VENV)/.compiler
	$(BIN)/python tools/ensure_kubectl.py

# Debian packages tests run for real: docker-registry and skopeo (tests/gitops/test_push.py pushes to a registry on
# 127.0.0.1 and reads back with skopeo). Installed when missing and running as root (CI); otherwise those tests skip
# and say why.
SYSTEM_COMMANDS := docker-registry skopeo
system-packages:
	@missing=$$(for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || echo $$c; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "note: $$missing missing and not root: the tests that need them will skip" >&2; fi

run: $(VENV)/.compiler
	$(BIN)/kaito-compile build examples -o out

check: $(VENV)/.compiler
	$(BIN)/kaito-compile check examples -o out

test: $(VENV)/.test .tools/bin/kubectl system-packages
	$(BIN)/python -m pytest -q

schemas: $(VENV)/.test
	$(BIN)/python -m kaito_compile.schemas
	$(BIN)/python -m kaito_compile.output.schema_gen

docs: $(VENV)/.compiler
	$(BIN)/python -m kaito_compile.docs

fuzz: $(VENV)/.test
	KAITO_FUZZ_PROFILE=full $(BIN)/python -m pytest -q tests/fuzz

bench: $(VENV)/.test .tools/bin/kubectl
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/runtime.py

clean-venv:
	rm -rf $(VENV) .tools
