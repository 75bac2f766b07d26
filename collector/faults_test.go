package collector

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vramfit/vramfit/nvml"
)

// sample is one series of a scrape.
type sample struct {
	family string
	labels map[string]string
	value  float64
}

// scrapeResult is one GET /metrics: its status and its series, keyed by
// family and labels as the text format writes them, without the durations
// (which change at every scrape).
type scrapeResult struct {
	code   int
	series map[string]sample
}

// metricsHandler serves the collector and the reload gauges the way
// `vramfit serve` does: partial failures are kept, and the handler gives up
// one second after the scrape timeout.
func metricsHandler(c *Collector, store *TargetStore) http.Handler {
	return metricsHandlerWithin(c, store, c.timeout+time.Second)
}

// metricsHandlerWithin is metricsHandler giving up after timeout.
func metricsHandlerWithin(c *Collector, store *TargetStore, timeout time.Duration) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c, store)
	return MetricsHandler(reg, timeout, discard())
}

func scrapeOnce(t *testing.T, h http.Handler) scrapeResult {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	res := scrapeResult{code: rec.Code, series: map[string]sample{}}
	if rec.Code != http.StatusOK {
		return res
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	require.NoError(t, err, "the scrape is valid text format")
	for name, f := range families {
		if name == "vramfit_scrape_collector_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			s := sample{family: name, labels: map[string]string{}, value: m.GetGauge().GetValue()}
			var pairs []string
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
				pairs = append(pairs, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(pairs)
			res.series[name+"{"+strings.Join(pairs, ",")+"}"] = s
		}
	}
	return res
}

// only keeps the series for which keep is true.
func (r scrapeResult) only(keep func(sample) bool) map[string]sample {
	out := map[string]sample{}
	for k, s := range r.series {
		if keep(s) {
			out[k] = s
		}
	}
	return out
}

func isGPUFamily(s sample) bool {
	return strings.HasPrefix(s.family, "vramfit_gpu_") || s.family == "vramfit_driver_info"
}

func isVerdict(s sample) bool {
	return strings.HasPrefix(s.family, "vramfit_target_") && s.family != "vramfit_target_info" &&
		s.family != "vramfit_target_required_bytes" && s.family != "vramfit_target_pinned"
}

func success(r scrapeResult, collector string) float64 {
	return r.series["vramfit_scrape_collector_success{collector="+collector+"}"].value
}

// uuidOf is the UUID of GPU gpu in a healthy scrape.
func uuidOf(t *testing.T, healthy scrapeResult, gpu string) string {
	t.Helper()
	for _, s := range healthy.series {
		if s.family == "vramfit_gpu_info" && s.labels["gpu"] == gpu && s.labels["parent_uuid"] == "" {
			return s.labels["uuid"]
		}
	}
	require.FailNow(t, "no GPU "+gpu)
	return ""
}

// gpusDown is what the GPU families of a healthy scrape become when the
// devices of these UUIDs are down: their identity and up 0, no reading.
// Nothing else changes.
func gpusDown(healthy scrapeResult, uuids ...string) map[string]sample {
	want := healthy.only(isGPUFamily)
	for k, s := range want {
		if !slices.Contains(uuids, s.labels["uuid"]) {
			continue
		}
		switch s.family {
		case "vramfit_gpu_info":
		case "vramfit_gpu_up":
			s.value = 0
			want[k] = s
		default:
			delete(want, k)
		}
	}
	return want
}

// keysOf lists the series of a family set, for messages that show what differs.
func keysOf(m map[string]sample) []string { return slices.Sorted(maps.Keys(m)) }

// faultFleet is the host of the fault tests: eight H100s, the DGX H100 of
// the demo, with the collector tests' targets.
const faultFleet = "dgx-h100"

// faultHost is one collector on a fake fleet, served as /metrics, and its
// healthy scrape taken from an identical host that no fault touches.
type faultHost struct {
	fake    *nvml.Fake
	store   *TargetStore
	handler http.Handler
	healthy scrapeResult
}

func newFaultHost(t *testing.T, timeout time.Duration) *faultHost {
	t.Helper()
	reference, refStore := newTestCollector(t, openFleet(t, faultFleet), testTargets)
	healthy := scrapeOnce(t, metricsHandler(reference, refStore))
	require.Equal(t, http.StatusOK, healthy.code)
	require.Equal(t, 1.0, success(healthy, nvmlCollector))

	fake := openFleet(t, faultFleet)
	store := loadedStore(t, testTargets)
	c := New(fake, store, timeout, discard())
	return &faultHost{fake: fake, store: store, handler: metricsHandler(c, store), healthy: healthy}
}

// assertWithoutNVML checks a scrape taken while NVML cannot be read: it
// succeeds, with nvml's failure and targets' (no verdicts), no series of
// any device (none left stale), and every target's info and requirement in
// its own layout.
func (h *faultHost) assertWithoutNVML(t *testing.T, r scrapeResult) {
	t.Helper()
	assert.Equal(t, http.StatusOK, r.code, "NVML down is not a failed scrape")
	assert.Equal(t, 0.0, success(r, nvmlCollector))
	assert.Equal(t, 0.0, success(r, targetsCollector), "no verdicts: the targets collector failed")
	assert.Empty(t, keysOf(r.only(isGPUFamily)), "no device series while NVML cannot be read")
	assert.Empty(t, keysOf(r.only(isVerdict)), "no verdicts without devices")
	isInfo := func(s sample) bool { return s.family == "vramfit_target_info" }
	assert.Equal(t, h.healthy.only(isInfo), r.only(isInfo))
	for _, tg := range h.store.Targets().targets {
		total := tg.own.PerGPUBytes.Total
		require.NotNil(t, total, tg.name)
		assert.Equal(t, float64(*total), r.series["vramfit_target_required_bytes{component=total,target="+tg.name+"}"].value,
			"%s: its requirement in its own layout", tg.name)
	}
}

// assertRecovered checks that the host serves what a host that never
// failed serves: the same series with the same values.
func (h *faultHost) assertRecovered(t *testing.T, r scrapeResult) {
	t.Helper()
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, keysOf(h.healthy.series), keysOf(r.series))
	for k, s := range h.healthy.series {
		if k == "vramfit_config_last_reload_success_timestamp_seconds{}" {
			continue
		}
		assert.Equal(t, s.value, r.series[k].value, k)
	}
}

// A fault of the GPUs never fails the scrape, never leaves a stale series,
// and passes without a restart; the devices it does not touch and the
// targets' requirements are exported throughout.
func TestFaults(t *testing.T) {
	libraryMissing := nvml.Faults{Unavailable: "libnvidia-ml.so.1: cannot open shared object file: No such file or directory"}
	driverNotLoaded := nvml.Faults{Unavailable: "the NVIDIA kernel driver is not loaded: Driver Not Loaded"}

	t.Run("library missing at start", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		h := newFaultHost(t, testTimeout)
		h.fake.SetFaults(libraryMissing)
		for range 2 { // every scrape tries again
			h.assertWithoutNVML(t, scrapeOnce(t, h.handler))
		}
		h.fake.SetFaults(nvml.Faults{})
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})

	t.Run("driver not loaded mid-run", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		h := newFaultHost(t, testTimeout)
		h.assertRecovered(t, scrapeOnce(t, h.handler))
		h.fake.SetFaults(driverNotLoaded)
		h.assertWithoutNVML(t, scrapeOnce(t, h.handler))
		h.fake.SetFaults(nvml.Faults{})
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})

	t.Run("a GPU lost mid-run and back later", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		h := newFaultHost(t, testTimeout)
		h.assertRecovered(t, scrapeOnce(t, h.handler))
		lost := uuidOf(t, h.healthy, "3")
		h.fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 3, BackAfterSnapshots: 2}}})
		for range 2 {
			r := scrapeOnce(t, h.handler)
			require.Equal(t, http.StatusOK, r.code)
			assert.Equal(t, 1.0, success(r, nvmlCollector), "one lost GPU is not a failed read")
			assert.Equal(t, 1.0, success(r, targetsCollector))
			want := gpusDown(h.healthy, lost)
			assert.Equal(t, want, r.only(isGPUFamily), "GPU 3 down, the seven others as they were")
			// Every target is still judged, on the seven GPUs left.
			assert.Equal(t, keysOf(h.healthy.only(isVerdict)), keysOf(r.only(isVerdict)))
		}
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})

	t.Run("every GPU lost", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		h := newFaultHost(t, testTimeout)
		h.assertRecovered(t, scrapeOnce(t, h.handler))
		var all nvml.Faults
		var uuids []string
		for gpu := range 8 {
			all.Lost = append(all.Lost, nvml.LostGPU{GPU: gpu})
			uuids = append(uuids, uuidOf(t, h.healthy, string(rune('0'+gpu))))
		}
		h.fake.SetFaults(all)
		r := scrapeOnce(t, h.handler)
		require.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, gpusDown(h.healthy, uuids...), r.only(isGPUFamily))
		for _, tg := range h.store.Targets().targets {
			assert.Equal(t, 0.0, r.series["vramfit_target_fits{target="+tg.name+"}"].value, tg.name)
			assert.Equal(t, 0.0, r.series["vramfit_target_fits_when_idle{target="+tg.name+"}"].value, tg.name)
		}
		h.fake.SetFaults(nvml.Faults{})
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})

	t.Run("garbage memory reading", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		h := newFaultHost(t, testTimeout)
		h.fake.SetFaults(nvml.Faults{Garbage: []int{5}})
		r := scrapeOnce(t, h.handler)
		require.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, 1.0, success(r, nvmlCollector))
		assert.Equal(t, gpusDown(h.healthy, uuidOf(t, h.healthy, "5")), r.only(isGPUFamily),
			"free above total: GPU 5 is down rather than exporting what cannot be true")
		for _, s := range r.series {
			assert.GreaterOrEqual(t, s.value, -1e15, s.family) // no wrapped uint64 reaches a gauge
			assert.Less(t, s.value, 1e15, s.family)
		}
		h.fake.SetFaults(nvml.Faults{})
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})
}

// A driver call that hangs longer than the scrape timeout: the scrape is
// served at the timeout without the GPUs; scrapes meanwhile join the stuck
// read instead of calling the driver again; once the call returns, the next
// scrape is whole again and no goroutine is left. The clock is synctest's:
// the minute passes at once.
func TestFaultHungDriver(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		const timeout = 5 * time.Second
		h := newFaultHost(t, timeout)
		h.assertRecovered(t, scrapeOnce(t, h.handler))
		h.fake.SetFaults(nvml.Faults{Delay: time.Minute})

		calls := h.fake.Calls()
		for range 3 {
			start := time.Now()
			r := scrapeOnce(t, h.handler)
			assert.Equal(t, timeout, time.Since(start), "served at the scrape timeout, not when the driver answers")
			h.assertWithoutNVML(t, r)
		}
		synctest.Wait()
		assert.Equal(t, calls, h.fake.Calls(), "three scrapes, no new call into the hung driver")

		h.fake.SetFaults(nvml.Faults{})
		time.Sleep(time.Minute) // the stuck call returns
		synctest.Wait()
		h.assertRecovered(t, scrapeOnce(t, h.handler))
	})
}

// The handler itself answers 503 when the whole scrape (not only NVML)
// outruns the scrape timeout and its grace, rather than hanging the
// scraper: here a backend that ignores its deadline.
func TestFaultHandlerTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		const timeout = 5 * time.Second
		store := loadedStore(t, testTargets)
		stuck := &deafBackend{release: make(chan struct{})}
		h := metricsHandler(New(stuck, store, timeout, discard()), store)
		start := time.Now()
		r := scrapeOnce(t, h)
		assert.Equal(t, http.StatusServiceUnavailable, r.code)
		assert.Equal(t, timeout+time.Second, time.Since(start))
		close(stuck.release)
		synctest.Wait()
	})
}

// deafBackend is a backend that breaks the Backend contract: its snapshot
// ignores the context until released.
type deafBackend struct{ release chan struct{} }

func (b *deafBackend) Snapshot(context.Context) (nvml.Snapshot, error) {
	<-b.release
	return nvml.Snapshot{}, nil
}

func (b *deafBackend) Close() error { return nil }
