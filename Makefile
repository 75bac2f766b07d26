# vramfit build, test and demo targets. `make test` is what CI runs.
BINARY   ?= vramfit
PKG      := ./cmd/$(BINARY)
GO       ?= go
VERSION  ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
VPKG     := github.com/prometheus/common/version
LDFLAGS  := -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=$(BRANCH) \
            -X $(VPKG).BuildUser=$(USER)@$(shell hostname 2>/dev/null) -X $(VPKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
FUZZTIME ?= 20s
# Headers of the NVML C API mark some functions deprecated; the warnings are noise.
export CGO_CFLAGS ?= -Wno-deprecated-declarations

.PHONY: all build build-nocgo test test-race test-nocgo vet style lint unused bench fuzz demo golden test-gpu idle-rss soak lint-install

all: style vet test build

# Rule tests, manifests and the end-to-end test live beside what they test.
include deploy/deploy.mk

build: ## the real binary (cgo; no NVIDIA driver is needed to build it)
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o $(BINARY) $(PKG)

build-nocgo: ## estimator and fake-fleet binary, no C toolchain needed
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BINARY)-nocgo $(PKG)

test: style vet test-race test-nocgo test-deploy ## everything CI runs

test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

test-nocgo: ## everything above nvml/'s adapter builds and tests without cgo
	CGO_ENABLED=0 $(GO) test -count=1 ./...

vet:
	CGO_ENABLED=1 $(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...

style:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

GOLANGCI_LINT ?= golangci-lint
GOLANGCI_LINT_VERSION := v2.15.0
lint: ## golangci-lint with .golangci.yml; `make lint-install` gets it through the Go module proxy
	@command -v $(GOLANGCI_LINT) >/dev/null || { echo "golangci-lint not found: run make lint-install (or set GOLANGCI_LINT=)"; exit 1; }
	$(GOLANGCI_LINT) run ./...
	CGO_ENABLED=0 $(GOLANGCI_LINT) run ./...

lint-install:
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

unused: ## go.mod and go.sum must be tidy
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum

test-gpu: ## on a host with an NVIDIA driver: vramfit against nvidia-smi
	scripts/gpu-check.sh

BENCH_COUNT ?= 5
BENCH_TIME  ?= 1s

bench: ## benchmarks, then the scrape's cost against client_golang's floor (docs/performance.md)
	$(GO) test -run '^$$' -bench . -benchmem ./estimator/... ./collector/... ./nvml/...
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(GO) test -c -o "$$tmp/vramfit.test" ./cmd/vramfit && \
	  $(GO) build -o "$$tmp/benchratio" ./scripts/benchratio && \
	  echo "== BenchmarkScrape and BenchmarkScrapeFloor, each case $(BENCH_COUNT) times, the two in one process" && \
	  for i in $$(seq $(BENCH_COUNT)); do \
	    for bench in $$("$$tmp/benchratio" -cases); do \
	      "$$tmp/vramfit.test" -test.run '^$$' -test.bench "$$bench" -test.benchmem -test.benchtime $(BENCH_TIME) || echo FAIL; \
	    done; \
	  done >"$$tmp/scrape.txt" && \
	  "$$tmp/benchratio" <"$$tmp/scrape.txt"

SOAKTIME ?= 60s
soak: ## 64 clients on /metrics for SOAKTIME through GPU faults and reloads (docs/reliability.md)
	VRAMFIT_SOAK=$(SOAKTIME) $(GO) test ./cmd/$(BINARY) -run '^TestSoak$$' -count=1 -v -timeout 10m

idle-rss: ## resident memory of an idle vramfit serve on the demo host (limit 30 MB)
	scripts/idle-rss.sh

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkgdir in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkgdir/*_test.go | sed 's/func //'); do \
	    echo "== $$pkgdir $$f"; $(GO) test ./$$pkgdir -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

# The demo listens on loopback only (a demo is no service to expose) and carries the
# version like a real build.
DEMO_ADDRESS ?= localhost:9847
demo: ## the agent on a fake DGX H100 with the example targets
	@echo "vramfit: open http://$(DEMO_ADDRESS)/ (metrics at /metrics, JSON at /api/v1/targets); Ctrl-C stops it"
	$(GO) run -ldflags "$(LDFLAGS)" $(PKG) serve --nvml.fake=dgx-h100 --config.file=deploy/examples/targets.yml --web.listen-address=$(DEMO_ADDRESS)

golden: ## refresh cmd/vramfit/testdata/metrics.golden after an intended change; review the diff
	$(GO) test $(PKG) -run TestMetricsGolden -count=1 -update
