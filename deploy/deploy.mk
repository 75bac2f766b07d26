# Targets for deploy/: rule tests, generated manifests, the dashboard's PromQL.
PROMTOOL   ?= promtool
RULE_FILES := $(wildcard deploy/prometheus/*.yml)
RULE_TESTS := $(wildcard deploy/prometheus/tests/*.yml)

.PHONY: test-deploy manifests check-promtool

check-promtool:
	@command -v $(PROMTOOL) >/dev/null 2>&1 || { \
	  echo "promtool not found: it comes with Prometheus; on Debian or Ubuntu run"; \
	  echo "  apt-get install prometheus"; \
	  echo "or set PROMTOOL=/path/to/promtool."; exit 1; }

# The rule files parse and their unit tests pass; every dashboard query parses as PromQL
# (checked as recording rules); the generated manifests match their sources and the
# manifests, unit and Dockerfile pass their checks (go test ./deploy/...).
test-deploy: check-promtool
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TESTS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(GO) run ./deploy/internal/deploygen dashboard-rules > "$$tmp/dashboard-queries.yml" && \
	  echo "$(PROMTOOL) check rules <dashboard queries>" && \
	  $(PROMTOOL) check rules "$$tmp/dashboard-queries.yml"
	$(GO) test -count=1 ./deploy/...

# Regenerate the PrometheusRule and the ConfigMap's targets from their sources.
manifests:
	$(GO) run ./deploy/internal/deploygen manifests
