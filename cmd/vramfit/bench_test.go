package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/collector/scrapegrid"
	"github.com/vramfit/vramfit/nvml"
)

// BenchmarkScrape is one GET /metrics through the exporter's own handler,
// as `vramfit serve` runs it by default, on a fake fleet that answers at
// once: the NVML snapshot, the placement of every target, the Go and
// process collectors, the instrumentation and the encoding.
func BenchmarkScrape(b *testing.B) {
	forGrid(b, func(b *testing.B, h *benchHost) {
		before := h.fake.Calls()
		serveLoop(b, h.full)
		b.ReportMetric(float64(h.fake.Calls()-before)/float64(b.N), "nvml-calls/op")
	})
}

// BenchmarkScrapeFloor serves the same series as BenchmarkScrape: the
// exporter's built once as const metrics, with the same Go and process
// collectors, through promhttp.HandlerFor with its default options. It is
// what client_golang alone costs for that output, independent of
// vramfit's own handler.
func BenchmarkScrapeFloor(b *testing.B) {
	forGrid(b, func(b *testing.B, h *benchHost) {
		serveLoop(b, floorHandler(b, h))
	})
}

func forGrid(b *testing.B, bench func(*testing.B, *benchHost)) {
	for _, gpus := range scrapegrid.GPUs {
		for _, targets := range scrapegrid.Targets {
			b.Run(fmt.Sprintf("gpus=%d/targets=%d", gpus, targets), func(b *testing.B) {
				bench(b, newBenchHost(b, gpus, targets))
			})
		}
	}
}

func serveLoop(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("GET /metrics: status %d", w.status)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing of the body, so
// that neither benchmark pays for storing it.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// benchHost is the exporter's handler on a host of the benchmark grid:
// mux as `vramfit serve --web.disable-exporter-metrics` builds it (its
// own series only), full as `vramfit serve` does.
type benchHost struct {
	fake      *nvml.Fake
	mux, full http.Handler
}

func newBenchHost(tb testing.TB, gpus, targets int) *benchHost {
	tb.Helper()
	fleet, err := scrapegrid.Fleet(gpus)
	require.NoError(tb, err)
	fake := nvml.NewFake(fleet)
	tb.Cleanup(func() { _ = fake.Close() })
	path := filepath.Join(tb.TempDir(), "targets.yml")
	require.NoError(tb, os.WriteFile(path, scrapegrid.TargetsFile(targets), 0o600))

	logger := slog.New(slog.DiscardHandler)
	store := collector.NewTargetStore(path, logger)
	_, err = store.Reload()
	require.NoError(tb, err)
	f := testServeFlags()
	c := collector.New(fake, store, f.scrapeTimeout, logger)
	h := &benchHost{fake: fake, full: f.newMux(c, store, logger)}
	f.disableExporterMetrics = true
	h.mux = f.newMux(c, store, logger)
	// The first scrape meets the devices and plans the targets on them,
	// as the first scrape after a start or a reload does.
	h.scrape(tb)
	return h
}

// scrape is one GET /metrics, its body parsed.
func (h *benchHost) scrape(tb testing.TB) map[string]*dto.MetricFamily {
	tb.Helper()
	return parseMetrics(tb, h.mux)
}

func parseMetrics(tb testing.TB, h http.Handler) map[string]*dto.MetricFamily {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(tb, http.StatusOK, rec.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	require.NoError(tb, err)
	return families
}

// floorHandler serves what h serves, every series of the exporter a const
// metric built before the first request, with the Go and process
// collectors, through promhttp.HandlerFor with its default options.
func floorHandler(tb testing.TB, h *benchHost) http.Handler {
	tb.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prebuilt(tb, h.scrape(tb)), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// constCollector sends metrics built beforehand, and nothing else.
type constCollector struct {
	descs   []*prometheus.Desc
	metrics []prometheus.Metric
}

func (c *constCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}

// prebuilt turns parsed gauge families into const metrics of the same
// names, help, labels and values.
func prebuilt(tb testing.TB, families map[string]*dto.MetricFamily) *constCollector {
	tb.Helper()
	c := &constCollector{}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		f := families[name]
		require.Equal(tb, dto.MetricType_GAUGE, f.GetType(), "%s: the floor builds gauges only", name)
		var labelNames []string
		for _, l := range f.Metric[0].GetLabel() {
			labelNames = append(labelNames, l.GetName())
		}
		desc := prometheus.NewDesc(name, f.GetHelp(), labelNames, nil)
		c.descs = append(c.descs, desc)
		for _, m := range f.Metric {
			values := make([]string, 0, len(labelNames))
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			c.metrics = append(c.metrics, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...))
		}
	}
	return c
}

// series lists the series of families as name{labels}, without values.
func series(families map[string]*dto.MetricFamily) []string {
	var out []string
	for name, f := range families {
		for _, m := range f.Metric {
			var s strings.Builder
			s.WriteString(name)
			for _, l := range m.GetLabel() {
				fmt.Fprintf(&s, ",%s=%q", l.GetName(), l.GetValue())
			}
			out = append(out, s.String())
		}
	}
	slices.Sort(out)
	return out
}

// The floor serves exactly the series the exporter serves, with the same
// help and type, so that the benchmarks compare like with like.
func TestScrapeFloorServesTheSameSeries(t *testing.T) {
	h := newBenchHost(t, 8, 10)
	want := parseMetrics(t, h.full)
	// The handler's instrumentation is vramfit's own work.
	for name := range want {
		if strings.HasPrefix(name, "promhttp_") {
			delete(want, name)
		}
	}
	got := parseMetrics(t, floorHandler(t, h))
	require.Equal(t, series(want), series(got))
	for name, f := range want {
		assert.Equal(t, f.GetHelp(), got[name].GetHelp(), name)
		assert.Equal(t, f.GetType(), got[name].GetType(), name)
	}
}

// The series /metrics serves grow as scrapegrid.Series says: 9 per GPU,
// 13 per target and one more per inference target, plus 8, plus 2 once
// there are GPUs.
func TestSeriesCount(t *testing.T) {
	for _, tt := range []struct{ gpus, targets, series int }{
		// Counted by hand from the families' definitions (docs/metrics.md).
		{0, 0, 8}, {1, 0, 19}, {1, 1, 33}, {1, 2, 46}, {8, 10, 82 + 135},
	} {
		assert.Equal(t, tt.series, scrapegrid.Series(tt.gpus, tt.targets), "formula for %d GPUs, %d targets", tt.gpus, tt.targets)
	}
	for _, gpus := range scrapegrid.GPUs {
		for _, targets := range []int{1, 10, 100} {
			got := len(series(newBenchHost(t, gpus, targets).scrape(t)))
			assert.Equal(t, scrapegrid.Series(gpus, targets), got, "%d GPUs, %d targets", gpus, targets)
		}
	}
}

// NVML calls per scrape depend on the GPUs alone: the same for any number
// of targets, and the same more for each GPU more.
func TestNVMLCallsPerScrape(t *testing.T) {
	perScrape := func(gpus, targets int) uint64 {
		h := newBenchHost(t, gpus, targets)
		before := h.fake.Calls()
		h.scrape(t)
		return h.fake.Calls() - before
	}
	for _, gpus := range scrapegrid.GPUs {
		one := perScrape(gpus, 1)
		require.NotZero(t, one)
		for _, targets := range []int{10, 100} {
			assert.Equal(t, one, perScrape(gpus, targets), "%d GPUs, %d targets", gpus, targets)
		}
	}
	one, two := perScrape(1, 1), perScrape(2, 1)
	perGPU := two - one
	require.NotZero(t, perGPU)
	for _, gpus := range scrapegrid.GPUs {
		assert.Equal(t, one+uint64(gpus-1)*perGPU, perScrape(gpus, 1), "%d GPUs", gpus)
	}
}
