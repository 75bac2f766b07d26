# Targets for deploy/: rule tests, generated manifests, the dashboard's PromQL, and the
# end-to-end test.
PROMTOOL   ?= promtool
PROMETHEUS ?= prometheus
CHROMIUM   ?= chromium
E2E_OUT    ?= $(CURDIR)/out/e2e
RULE_FILES := $(wildcard deploy/prometheus/*.yml)
RULE_TESTS := $(wildcard deploy/prometheus/tests/*.yml)

.PHONY: test-deploy test-rules manifests check-promtool e2e check-e2e-tools helm-install helm-test kustomize-install

# helm v3 from the Go module proxy, built once into GOPATH/bin where it is not on PATH.
HELM_VERSION := v3.19.0
HELM ?= $(shell command -v helm 2>/dev/null || echo "$$($(GO) env GOPATH)/bin/helm")
HELM_CHART := deploy/helm/vramfit
# kustomize, likewise, for TestKustomizeBuild where kubectl (kubectl kustomize) is missing.
KUSTOMIZE_VERSION := v5.7.1
KUSTOMIZE ?= $(shell command -v kustomize 2>/dev/null || echo "$$($(GO) env GOPATH)/bin/kustomize")

check-promtool:
	@command -v $(PROMTOOL) >/dev/null 2>&1 || { \
	  echo "promtool not found: it comes with Prometheus; on Debian or Ubuntu run"; \
	  echo "  apt-get install prometheus"; \
	  echo "or set PROMTOOL=/path/to/promtool."; exit 1; }

# The rule files parse and their unit tests pass; every dashboard query and every ```promql
# example of the README and docs/ parses as PromQL (checked as recording rules); the generated
# manifests match their sources and the manifests, chart, units and Dockerfile pass their checks
# (go test ./deploy/...; helm and kustomize are built here when missing). go.mod and go.sum
# must be tidy (`make unused`).
# `make test` must work on a machine with only Go: there, without promtool, the promtool
# half says loudly that it did not run. CI (CI=true) installs promtool and never skips it.
test-deploy: unused helm-test kustomize-install
	@if command -v $(PROMTOOL) >/dev/null 2>&1 || [ -n "$$CI" ]; then \
	  $(MAKE) --no-print-directory test-rules; \
	else \
	  echo "*** NOT RUN: promtool rule tests (promtool not found; apt-get install prometheus, then make test-rules)"; \
	fi
	@command -v systemd-analyze >/dev/null 2>&1 || [ -n "$$CI" ] || \
	  echo "*** NOT RUN: systemd-analyze verify of the units (systemd-analyze not found; it comes with systemd)"
	HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" $(GO) test -count=1 ./deploy/...

helm-install:
	@test -x "$(HELM)" || { echo "$(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)"; \
	  $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }

kustomize-install:
	@command -v kubectl >/dev/null || test -x "$(KUSTOMIZE)" || { \
	  echo "$(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)"; \
	  $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); }

# The chart lints strictly and renders, with its defaults and with every switch on; the Go
# tests (TestHelm*) check what it renders against the kustomize kit and the rule files.
helm-test: helm-install
	$(HELM) lint --strict $(HELM_CHART)
	$(HELM) lint --strict $(HELM_CHART) -f $(HELM_CHART)/ci/all-values.yaml
	$(HELM) template vramfit $(HELM_CHART) >/dev/null
	$(HELM) template vramfit $(HELM_CHART) -f $(HELM_CHART)/ci/all-values.yaml >/dev/null

test-rules: check-promtool
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TESTS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(GO) run ./deploy/internal/deploygen dashboard-rules > "$$tmp/dashboard-queries.yml" && \
	  echo "$(PROMTOOL) check rules <dashboard queries>" && \
	  $(PROMTOOL) check rules "$$tmp/dashboard-queries.yml" && \
	  $(GO) run ./deploy/internal/deploygen doc-rules > "$$tmp/doc-queries.yml" && \
	  echo "$(PROMTOOL) check rules <PromQL examples of the README and docs/>" && \
	  $(PROMTOOL) check rules "$$tmp/doc-queries.yml"

# Regenerate the PrometheusRule and the ConfigMap's targets from their sources.
manifests:
	$(GO) run ./deploy/internal/deploygen manifests

check-e2e-tools:
	@missing=; for p in "$(PROMETHEUS)" "$(CHROMIUM)"; do \
	  command -v "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make e2e needs Prometheus and Chromium; not found:$$missing. On Debian or Ubuntu run"; \
	  echo "  apt-get install prometheus chromium"; \
	  echo "or set PROMETHEUS=/path/to/prometheus CHROMIUM=/path/to/chromium."; exit 1; fi

# The agent on a fake host, scraped by a real Prometheus that loads the rules; every
# dashboard query and rule evaluated, alerts after a reload, a lost GPU, a failed reload
# and a stopped agent, and the status page in headless Chromium. Logs, the rendered DOM
# and status.png go to $(E2E_OUT). See docs/deploy.md, "End-to-end test".
e2e: check-e2e-tools
	VRAMFIT_E2E=1 VRAMFIT_E2E_OUT="$(E2E_OUT)" VRAMFIT_E2E_LDFLAGS="$(LDFLAGS)" \
	  VRAMFIT_E2E_PROMETHEUS="$(PROMETHEUS)" VRAMFIT_E2E_CHROMIUM="$(CHROMIUM)" \
	  $(GO) test -count=1 -v -timeout 5m ./deploy/e2e

# Release builds: the cgo binary for linux/ARCH in out/linux-ARCH/, with Debian's cross
# compiler where ARCH is not the host's (gcc-aarch64-linux-gnu and libc6-dev-arm64-cross,
# or gcc-x86-64-linux-gnu and libc6-dev-amd64-cross). The Dockerfile builds the same way.
RELEASE_ARCHES := amd64 arm64
CROSS_CC_amd64 := x86_64-linux-gnu-gcc
CROSS_CC_arm64 := aarch64-linux-gnu-gcc
GOHOSTARCH     := $(shell $(GO) env GOHOSTARCH)

.PHONY: release $(addprefix build-linux-,$(RELEASE_ARCHES))

$(addprefix build-linux-,$(RELEASE_ARCHES)): build-linux-%:
	CGO_ENABLED=1 GOOS=linux GOARCH=$* $(if $(filter-out $(GOHOSTARCH),$*),CC=$(CROSS_CC_$*)) \
	  $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o out/linux-$*/$(BINARY) $(PKG)

# dist/: a tarball and a .deb (the hardened unit and its socket) per architecture, and
# SHA256SUMS; scripts/release.sh checks them with sha256sum, file and dpkg-deb.
release: $(addprefix build-linux-,$(RELEASE_ARCHES))
	scripts/release.sh $(VERSION) $(RELEASE_ARCHES)
