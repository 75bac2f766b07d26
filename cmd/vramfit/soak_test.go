package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/nvml"
)

// soakEnv sets the soak's length (`make soak` sets 60s). Without it the
// soak runs as a two-second smoke test, with 8 clients, in every `go test`.
const soakEnv = "VRAMFIT_SOAK"

const (
	soakClients = 64
	// smokeClients scrape in the two-second run of every go test, which
	// may run under -race beside other packages: 64 clients there would
	// queue past the handler's timeout on a small machine.
	smokeClients      = 8
	soakTargets       = 100
	soakScrapeTimeout = time.Second
	// soakDriverDelay is how long the fake driver takes to read its eight
	// GPUs: real reads take milliseconds, and scrapes that overlap one
	// share it.
	soakDriverDelay = 10 * time.Millisecond
	// fakeCallsPerHealthySnapshot is what the fake counts for a snapshot
	// of dgx-h100: 4 for the host and 10 per GPU (nvml/fake.go).
	fakeCallsPerHealthySnapshot = 4 + 8*10
)

// soakFile is a targets file of soakTargets targets; variant changes every
// batch, so that each reload swaps in new targets.
func soakFile(variant int) string {
	presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "gemma-7b", "phi-4", "llama-3.1-8b"}
	workloads := []string{"inference", "inference", "training", "lora", "qlora"}
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range soakTargets {
		fmt.Fprintf(&b, "  - {name: t%03d, model: {preset: %s}, workload: %s, context: %d, batch: %d}\n",
			i, presets[i%len(presets)], workloads[i%len(workloads)], 1024<<(i%4), 1+(i+variant)%8)
	}
	return b.String()
}

// soakPhase is one stretch of the soak with one set of faults.
type soakPhase struct {
	name   string
	faults nvml.Faults
	// nvmlFails says the fault makes the nvml collector fail (the library
	// gone, or a read longer than the scrape timeout): scrapes that overlap
	// the phase may report nvml 0; no other scrape may.
	nvmlFails bool
}

func soakPhases() []soakPhase {
	healthy := nvml.Faults{Delay: soakDriverDelay}
	return []soakPhase{
		{name: "healthy", faults: healthy},
		{name: "GPU 2 lost, back after 50 snapshots", faults: nvml.Faults{Delay: soakDriverDelay, Lost: []nvml.LostGPU{{GPU: 2, BackAfterSnapshots: 50}}}},
		{name: "healthy", faults: healthy},
		{name: "GPU 5 reads garbage", faults: nvml.Faults{Delay: soakDriverDelay, Garbage: []int{5}}},
		{name: "healthy", faults: healthy},
		{name: "driver not loaded", faults: nvml.Faults{Unavailable: "the NVIDIA kernel driver is not loaded"}, nvmlFails: true},
		{name: "healthy", faults: healthy},
		{name: "driver hung past the scrape timeout", faults: nvml.Faults{Delay: soakScrapeTimeout + soakScrapeTimeout/2}, nvmlFails: true},
		{name: "healthy", faults: healthy},
		{name: "every GPU lost", faults: nvml.Faults{Delay: soakDriverDelay, Lost: []nvml.LostGPU{{GPU: 0}, {GPU: 1}, {GPU: 2}, {GPU: 3}, {GPU: 4}, {GPU: 5}, {GPU: 6}, {GPU: 7}}}},
		{name: "healthy", faults: healthy},
		{name: "healthy", faults: healthy},
	}
}

// soakScrape is one scrape as a client saw it.
type soakScrape struct {
	start, end time.Time
	err        error // transport error or a status other than 200
	nvmlFailed bool
}

// soakTally is what the clients saw, in memory that does not grow with the
// scrapes, so that the memory measured is the exporter's.
type soakTally struct {
	scrapes  atomic.Int64
	latency  [latencyBuckets]atomic.Uint32 // by latencyBucket; the last holds the longer
	maxNanos atomic.Int64

	mu           sync.Mutex
	failed       int
	failures     []soakScrape // the first few
	nvmlWindows  []window     // when nvml may fail
	nvmlExpected int          // scrapes whose nvml failed in a window
	nvmlOutside  int          // and out of every window
}

const (
	latencyBucket  = 100 * time.Microsecond
	latencyBuckets = 50_000 // 5 s
)

// allowNVMLFailures marks a stretch of time in which scrapes may see nvml fail.
func (t *soakTally) allowNVMLFailures(w window) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nvmlWindows = append(t.nvmlWindows, w)
}

func (t *soakTally) add(s soakScrape) {
	t.scrapes.Add(1)
	if s.err != nil || s.nvmlFailed {
		t.mu.Lock()
		switch {
		case s.err != nil:
			t.failed++
			if len(t.failures) < 5 {
				t.failures = append(t.failures, s)
			}
		case slices.ContainsFunc(t.nvmlWindows, func(w window) bool { return s.end.After(w.from) && s.start.Before(w.to) }):
			t.nvmlExpected++
		default:
			t.nvmlOutside++
		}
		t.mu.Unlock()
	}
	if s.err != nil {
		return
	}
	d := s.end.Sub(s.start)
	t.latency[min(int(d/latencyBucket), latencyBuckets-1)].Add(1)
	for old := t.maxNanos.Load(); int64(d) > old && !t.maxNanos.CompareAndSwap(old, int64(d)); old = t.maxNanos.Load() {
	}
}

// quantile is the latency below which the share q of the successful
// scrapes fall, to the bucket's upper bound.
func (t *soakTally) quantile(q float64) time.Duration {
	var total uint64
	for i := range t.latency {
		total += uint64(t.latency[i].Load())
	}
	rank := uint64(q * float64(total))
	var seen uint64
	for i := range t.latency {
		seen += uint64(t.latency[i].Load())
		if seen > rank {
			return time.Duration(i+1) * latencyBucket
		}
	}
	return latencyBuckets * latencyBucket
}

// window is a stretch of time during which nvml may fail.
type window struct{ from, to time.Time }

// memorySample is the process's memory at the end of a round of faults,
// with no scrape in flight and right after a collection that returns what
// it can to the system: what the process keeps, not what it is using for
// the moment or the collector has yet to reclaim.
type memorySample struct{ resident, heap uint64 }

func settledMemory(t *testing.T) memorySample {
	runtime.GC() // a second collection empties what sync.Pools kept from the first
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memorySample{resident: residentBytes(t), heap: m.HeapInuse}
}

func mebi(b uint64) float64 { return float64(b) / (1 << 20) }

// residentBytes is this process's resident set.
func residentBytes(t *testing.T) uint64 {
	t.Helper()
	statm, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	fields := strings.Fields(string(statm))
	require.GreaterOrEqual(t, len(fields), 2)
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	require.NoError(t, err)
	return pages * uint64(os.Getpagesize())
}

// The exporter under load: 64 clients scrape /metrics of a fake DGX H100
// with 100 targets, over loopback through the real server, while the
// targets are reloaded and the GPUs fail in every way the fake can. No
// scrape fails; nvml fails only while a fault says it must; concurrent
// scrapes share the driver's reads; memory settles after warm-up; every
// goroutine ends.
func TestSoak(t *testing.T) {
	duration, clientCount := 2*time.Second, smokeClients
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s=%q: want a duration such as 60s", soakEnv, v)
		duration, clientCount = d, soakClients
	}
	before := goleak.IgnoreCurrent()
	goroutinesBefore := runtime.NumGoroutine()

	dir := t.TempDir()
	targetsPath := filepath.Join(dir, "targets.yml")
	require.NoError(t, os.WriteFile(targetsPath, []byte(soakFile(0)), 0o600))
	logger := slog.New(slog.DiscardHandler)
	store := collector.NewTargetStore(targetsPath, logger)
	_, err := store.Reload()
	require.NoError(t, err)
	fake, err := nvml.OpenFake("dgx-h100")
	require.NoError(t, err)
	fake.SetFaults(nvml.Faults{Delay: soakDriverDelay})

	addr := freeAddress(t)
	base := "http://" + addr
	f := testServeFlags()
	f.scrapeTimeout = soakScrapeTimeout
	f.enableLifecycle = true
	f.maxRequests = clientCount // the default of 40 would shed the load above 40 on purpose
	systemd, webConfig := false, ""
	f.web = &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	serverCtx, stopServer := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() { served <- f.serve(serverCtx, logger, store, fake, nil) }()
	waitReady(t, base)

	transport := &http.Transport{MaxIdleConnsPerHost: clientCount}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	start := time.Now()
	deadline := start.Add(duration)
	callsBefore := fake.Calls()

	// The clients: each scrapes as fast as the server answers, except
	// while the memory is measured (pause).
	tally := &soakTally{}
	var clients sync.WaitGroup
	var pause sync.RWMutex
	for range clientCount {
		clients.Go(func() {
			for time.Now().Before(deadline) {
				pause.RLock()
				s := soakScrape{start: time.Now()}
				resp, err := client.Get(base + "/metrics")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					s.nvmlFailed = bytes.Contains(body, []byte("\nvramfit_scrape_collector_success{collector=\"nvml\"} 0\n"))
				}
				s.end, s.err = time.Now(), err
				pause.RUnlock()
				tally.add(s)
			}
		})
	}

	// The faults, one phase after another, with a reload in the middle of
	// each. Phases last a second: a 60 s soak goes through every fault five
	// times. The first round is the warm-up. At the end of each round the
	// clients pause, the scrapes in flight end, and the memory the process
	// keeps is measured. Under load the resident set swings by the buffers
	// of the scrapes in flight; the peak is reported.
	phases := soakPhases()
	phaseLength := min(time.Second, max(duration/time.Duration(len(phases)), 100*time.Millisecond))
	var memory []memorySample
	var peakResident uint64
	reloads, reloadErrors := 0, 0
	for i := 0; time.Now().Before(deadline); i++ {
		if i > 0 && i%len(phases) == 0 {
			pause.Lock()
			memory = append(memory, settledMemory(t))
			pause.Unlock()
		}
		p := phases[i%len(phases)]
		from := time.Now()
		end := from.Add(phaseLength)
		if end.After(deadline) {
			end = deadline
		}
		if p.nvmlFails {
			// A read begun in the phase may end up to its delay later.
			tally.allowNVMLFailures(window{from, end.Add(p.faults.Delay + soakScrapeTimeout)})
		}
		fake.SetFaults(p.faults)
		reloaded := false
		for now := time.Now(); now.Before(end); now = time.Now() {
			if !reloaded && now.After(from.Add(phaseLength/2)) {
				reloaded = true
				require.NoError(t, os.WriteFile(targetsPath, []byte(soakFile(i+1)), 0o600))
				resp, err := client.Post(base+"/-/reload", "", nil)
				reloads++
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
					}
				}
				if err != nil {
					reloadErrors++
					t.Logf("failed reload at %s: %v", time.Since(start).Round(time.Millisecond), err)
				}
			}
			peakResident = max(peakResident, residentBytes(t))
			time.Sleep(10 * time.Millisecond)
		}
	}
	clients.Wait()
	fake.SetFaults(nvml.Faults{})
	calls := fake.Calls() - callsBefore
	elapsed := time.Since(start)
	// Recovery without a restart: once a read stuck in the last phase
	// returns, the next scrape reads every GPU again.
	require.Eventually(t, func() bool {
		code, body := fetch(t, base+"/metrics")
		up := 0
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, "vramfit_gpu_up{") && strings.HasSuffix(line, "} 1\n") {
				up++
			}
		}
		return code == http.StatusOK && up == 8
	}, 10*time.Second, 10*time.Millisecond, "the exporter did not recover")

	// What the clients saw.
	for _, s := range tally.failures {
		t.Logf("failed scrape at %s: %v", s.start.Sub(start).Round(time.Millisecond), s.err)
	}
	nvmlExpected, nvmlUnexpected := tally.nvmlExpected, tally.nvmlOutside
	scrapes, failed := tally.scrapes.Load(), tally.failed
	require.Positive(t, scrapes)
	snapshots := float64(calls) / fakeCallsPerHealthySnapshot

	t.Logf("soak: %s, %d clients, %d targets, 8 GPUs; %d scrapes (%.0f/s), %d failed; nvml failed in %d scrapes during its faults, %d outside them",
		elapsed.Round(time.Second), clientCount, soakTargets, scrapes, float64(scrapes)/elapsed.Seconds(), failed, nvmlExpected, nvmlUnexpected)
	t.Logf("soak: latency p50 %s, p99 %s, max %s; %d driver calls, about %.0f snapshots (%.1f scrapes per snapshot); %d reloads, %d failed",
		tally.quantile(0.5), tally.quantile(0.99), time.Duration(tally.maxNanos.Load()).Round(time.Millisecond),
		calls, snapshots, float64(scrapes)/snapshots, reloads, reloadErrors)

	assert.Zero(t, failed, "failed scrapes")
	assert.Zero(t, nvmlUnexpected, "nvml failed outside the faults that fail it")
	assert.Zero(t, reloadErrors, "failed reloads")
	if clientCount == soakClients {
		assert.Less(t, snapshots*4, float64(scrapes), "64 clients share the driver's reads")
	} else {
		// Under -race a scrape takes long against the driver's 10 ms: few
		// overlap, but none reads the driver twice.
		assert.LessOrEqual(t, snapshots, float64(scrapes), "scrapes never multiply the driver's reads")
	}
	if len(memory) >= 4 {
		// The floor of the first two rounds after warm-up against the floor
		// of the last two: a leak raises the floor; what swings is noise
		// of the allocator and of the scrapes' pools.
		floor := func(m []memorySample) memorySample {
			return memorySample{resident: min(m[0].resident, m[1].resident), heap: min(m[0].heap, m[1].heap)}
		}
		first, last := floor(memory[:2]), floor(memory[len(memory)-2:])
		growth := float64(last.resident)/float64(first.resident) - 1
		var rounds []string
		for _, m := range memory {
			rounds = append(rounds, fmt.Sprintf("%.1f", mebi(m.resident)))
		}
		t.Logf("soak: resident set at the end of rounds 1 to %d: %s MiB (%+.1f%%); heap in use %.1f then %.1f MiB; peak under load %.1f MiB",
			len(memory), strings.Join(rounds, ", "), growth*100, mebi(first.heap), mebi(last.heap), mebi(peakResident))
		assert.Less(t, growth, 0.10, "resident set growth after warm-up")
	} else {
		t.Logf("soak: %d rounds of faults ended; the resident set is compared from 4 on (%s=60s)", len(memory), soakEnv)
	}

	stopServer()
	assert.Equal(t, 0, <-served)
	transport.CloseIdleConnections()
	goleak.VerifyNone(t, before)
	t.Logf("soak: goroutines %d before, %d after", goroutinesBefore, runtime.NumGoroutine())
}
