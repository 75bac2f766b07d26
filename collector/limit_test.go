package collector

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// blockingGatherer counts its gathers, each of which waits for release.
type blockingGatherer struct {
	gathers atomic.Int32
	release chan struct{}
}

func (g *blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.gathers.Add(1)
	<-g.release
	return prometheus.NewRegistry().Gather()
}

// countingBackend counts its snapshots, each of which waits for release
// (or its deadline).
type countingBackend struct {
	nvml.Backend
	snapshots atomic.Int32
	release   chan struct{}
}

func (b *countingBackend) Snapshot(ctx context.Context) (nvml.Snapshot, error) {
	b.snapshots.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return b.Backend.Snapshot(ctx)
}

// serveAll sends n requests for target to h at once and returns their
// responses once all have ended.
func serveAll(h http.Handler, target string, n int, release func()) []*httptest.ResponseRecorder {
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = httptest.NewRecorder()
		wg.Go(func() { h.ServeHTTP(recs[i], httptest.NewRequest(http.MethodGet, target, nil)) })
	}
	synctest.Wait() // every request is in flight, blocked on the work
	release()
	wg.Wait()
	return recs
}

// Concurrent scrapes share one gather: 50 scrapes that arrive while a
// gather runs cost one collection, not 50.
func TestScrapesShareOneGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &blockingGatherer{release: make(chan struct{})}
		h := MetricsHandler(g, time.Minute, discard())
		for _, rec := range serveAll(h, "/metrics", 50, func() { close(g.release) }) {
			assert.Equal(t, http.StatusOK, rec.Code)
		}
		assert.Equal(t, int32(1), g.gathers.Load(), "gathers for 50 concurrent scrapes")
	})
}

// Concurrent requests of the status page or the JSON API share one look
// at the host and one rendering.
func TestPagesShareOneRendering(t *testing.T) {
	for _, path := range []string{"/", "/api/v1/targets", "/api/v1/inventory"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				backend := &countingBackend{Backend: openFleet(t, "dgx-h100"), release: make(chan struct{})}
				c, _ := newTestCollector(t, backend, testTargets)
				h := map[string]http.Handler{"/": c.StatusHandler("/metrics"),
					"/api/v1/targets": c.TargetsHandler(), "/api/v1/inventory": c.InventoryHandler()}[path]
				recs := serveAll(h, path, 50, func() { close(backend.release) })
				for _, rec := range recs {
					assert.Equal(t, http.StatusOK, rec.Code)
					assert.Equal(t, recs[0].Body.String(), rec.Body.String())
				}
				assert.Equal(t, int32(1), backend.snapshots.Load(), "GPU readings for 50 concurrent requests")
			})
		})
	}
}

// One bound for every endpoint that works: with the slots taken by
// scrapes, the status page and the API answer 503 at once too; a slot is
// free again as soon as its request ends.
func TestGateSharedByEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &blockingGatherer{release: make(chan struct{})}
		c, _ := newTestCollector(t, openFleet(t, "dgx-h100"), testTargets)
		gate := NewGate(2)
		metrics := gate.Wrap(MetricsHandler(g, time.Minute, discard()))
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { serveOnce(t, metrics, http.MethodGet, "/metrics") })
		}
		synctest.Wait()
		for _, h := range []http.Handler{metrics, gate.Wrap(c.StatusHandler("/metrics")), gate.Wrap(c.TargetsHandler())} {
			rec := serveOnce(t, h, http.MethodGet, "/")
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Contains(t, rec.Body.String(), "Too many requests in flight")
		}
		close(g.release)
		wg.Wait()
		assert.Equal(t, http.StatusOK, serveOnce(t, gate.Wrap(c.TargetsHandler()), http.MethodGet, "/").Code)
	})
}

// A scrape whose gather outlives its deadline answers 503 then and frees
// its slot, where promhttp's timeout wrapper kept the slot until the
// gather ended: the next scrape is admitted (and joins the same gather)
// instead of being turned away.
func TestScrapeTimeoutFreesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 5 * time.Second
		g := &blockingGatherer{release: make(chan struct{})}
		h := NewGate(1).Wrap(MetricsHandler(g, timeout, discard()))
		for range 3 {
			start := time.Now()
			rec := serveOnce(t, h, http.MethodGet, "/metrics")
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Equal(t, "The metrics were not gathered within 5s.\n", rec.Body.String())
			assert.Equal(t, timeout, time.Since(start))
		}
		assert.Equal(t, int32(1), g.gathers.Load(), "the scrapes joined the gather in flight")
		close(g.release)
		synctest.Wait()
		assert.Equal(t, http.StatusOK, serveOnce(t, h, http.MethodGet, "/metrics").Code)
	})
}

// A response still being written when its scraper leaves is cut off: the
// handler stops encoding, and drops the connection rather than ending the
// body, so that nothing can take the part written for a whole scrape.
func TestScrapeCutOffWhenScraperLeaves(t *testing.T) {
	c, store := newTestCollector(t, openFleet(t, "dgx-h100"), testTargets)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c, store)
	w := &cutWriter{header: http.Header{}}
	h := MetricsHandler(reg, time.Minute, discard())
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	rctx, rcancel := context.WithCancel(r.Context())
	w.cancel = rcancel
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() { h.ServeHTTP(w, r.WithContext(rctx)) })
	assert.Equal(t, 1, w.writes, "nothing is written after the scraper left")
}

// cutWriter ends its request's context after the first write, as a
// scraper that closes the connection does.
type cutWriter struct {
	header http.Header
	cancel context.CancelFunc
	writes int
}

func (w *cutWriter) Header() http.Header { return w.header }
func (w *cutWriter) WriteHeader(int)     {}
func (w *cutWriter) Write(p []byte) (int, error) {
	w.writes++
	w.cancel()
	return len(p), nil
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip": true, "gzip;q=0.5": true, "gzip;q=0": false,
		"gzip; q=0.0": false, "identity": false, "x-gzip": false, "br, gzip;q=1.0, *;q=0.1": true,
	} {
		assert.Equal(t, want, acceptsGzip(header), "%q", header)
	}
}

// A scraper that asks for gzip gets the same metrics compressed.
func TestMetricsGzip(t *testing.T) {
	c, store := newTestCollector(t, openFleet(t, "dgx-h100"), testTargets)
	h := metricsHandler(c, store)
	plain := serveOnce(t, h, http.MethodGet, "/metrics")
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	assert.Equal(t, plain.Header().Get("Content-Type"), rec.Header().Get("Content-Type"))
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	body, err := io.ReadAll(zr)
	require.NoError(t, err)
	durations := regexp.MustCompile(`(?m)^vramfit_scrape_collector_duration_seconds.*$`)
	assert.Equal(t, durations.ReplaceAllString(plain.Body.String(), ""), durations.ReplaceAllString(string(body), ""))
}

// panickingGatherer is a collector with a bug.
type panickingGatherer struct{}

func (panickingGatherer) Gather() ([]*dto.MetricFamily, error) { panic("a bug") }

// A panic while gathering fails the scrapes that shared it, as net/http
// recovers a handler's panic, rather than ending the process from the
// goroutine the gather runs on.
func TestGatherPanicFailsTheScrape(t *testing.T) {
	rec := serveOnce(t, MetricsHandler(panickingGatherer{}, time.Minute, discard()), http.MethodGet, "/metrics")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	rec = serveOnce(t, (&Collector{logger: discard()}).shared("page", func() response { panic("a bug") }), http.MethodGet, "/")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "cannot render the page\n", rec.Body.String())
}
