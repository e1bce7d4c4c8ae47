# sliceplane developer entry points. `make test` and `make demo` work on a fresh machine:
# they build the virtualenv from the lock file themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use when we run as root (listed here so one place installs
# them): chromium for the view's browser test; iproute2 builds the network namespaces of
# the real-packet proxy tests, which run nftables and iptables (iptables-save,
# iptables-restore) inside them.
APT_PACKAGES ?= chromium iproute2 nftables iptables dnsutils curl dnsperf wrk

.PHONY: fuzz-diff env test lint typecheck unit demo apiserver clean bench schemas proto-fields lock k8s-bin coredns-bin helm-bin clientgo-check-bin terraform-bin bench-dns bench-controller bench-cluster bench-all bench-proxy report

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@# Bytecode once, here: where PYTHONDONTWRITEBYTECODE is set (it is on our machines)
	@# Python never writes .pyc files, so every process compiled its imports again, e.g.
	@# 2.7 s for kubernetes_asyncio in each proxy, CLI and plugin the tests start (0.7 s
	@# with bytecode). Stale .pyc files of src/ are ignored by Python, never used.
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib src >/dev/null 2>&1 || true
	@if [ -n "$(APT_PACKAGES)" ] && [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi; \
	fi
	@touch $(STAMP)

env: $(STAMP)

lint: env
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports
	$(BIN)/python tools/gen_schemas.py --check

typecheck: env
	$(BIN)/mypy

unit: env
	$(BIN)/pytest -q tests/unit

# The real Kubernetes control plane (tools/k8s/VERSION) for the oracle tests, cached outside
# the repo in $${SLICEPLANE_K8S_CACHE:-~/.cache/sliceplane/k8s}; a warm cache returns at once.
k8s-bin:
	bash tools/k8s/build.sh

# CoreDNS with its kubernetes plugin (tools/coredns/VERSION), the DNS oracle, cached the
# same way in $${SLICEPLANE_COREDNS_CACHE:-~/.cache/sliceplane/coredns}.
coredns-bin:
	bash tools/coredns/build.sh

# Helm 3 and Helm 4 (tools/helm/v3, tools/helm/v4) for the Helm tests, cached the same way
# in $${SLICEPLANE_HELM_CACHE:-~/.cache/sliceplane/helm}.
helm-bin:
	bash tools/helm/build.sh

# Our client-go list/watch conformance program (tools/clientgo-check), cached by a stamp
# of its sources in $${SLICEPLANE_CLIENTGO_CHECK_CACHE:-~/.cache/sliceplane/clientgo-check}.
clientgo-check-bin:
	bash tools/clientgo-check/build.sh

# OpenTofu and the Terraform kubernetes provider (tools/terraform/tofu, .../provider-kubernetes)
# for the Terraform tests, cached the same way in $${SLICEPLANE_TERRAFORM_CACHE:-~/.cache/sliceplane/terraform}.
terraform-bin:
	bash tools/terraform/build.sh

test: env lint typecheck k8s-bin coredns-bin helm-bin clientgo-check-bin terraform-bin
	$(BIN)/pytest -q -p no:cacheprovider

# The API fuzzer against kube-apiserver too, comparing status classes (longer; a report in
# build/fuzz/differential.json). FUZZ_SCALE=1 for the full 20,000 requests.
fuzz-diff: env k8s-bin
	FUZZ_DIFFERENTIAL=1 FUZZ_SCALE=$${FUZZ_SCALE:-0.25} $(BIN)/pytest -q -s -p no:cacheprovider tests/integration/fuzz/test_fuzz_differential.py

demo: env
	$(BIN)/sliceplane demo $(ARGS)

bench: env k8s-bin
	$(BIN)/python bench/apiserver.py --upstream $(ARGS)

bench-proxy: env k8s-bin
	$(BIN)/python bench/proxy.py --part rules,upstream,userspace $(ARGS)

bench-controller: env k8s-bin
	$(BIN)/python bench/controller.py $(ARGS)

bench-cluster: env
	$(BIN)/python bench/cluster.py $(ARGS)

bench-dns: env k8s-bin coredns-bin
	$(BIN)/python bench/dns.py $(ARGS)

bench-all: bench bench-controller bench-cluster bench-dns

# The measured case for EndpointSlices: docs/scale/ (README.md and PNG plots).
report: env
	$(BIN)/sliceplane report scale --out docs/scale $(ARGS)

schemas: env
	$(BIN)/python tools/gen_schemas.py

proto-fields: env
	$(BIN)/python tools/gen_proto_fields.py

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
