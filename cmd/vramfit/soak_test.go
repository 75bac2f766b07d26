package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// soak runs as a two-second smoke test in every `go test`.
const soakEnv = "VRAMFIT_SOAK"

const (
	soakClients       = 64
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
	presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "gemma-7b", "gpt2", "llama-2-13b"}
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

// window is a stretch of time during which nvml may fail.
type window struct{ from, to time.Time }

// memorySample is the process's memory at one moment of the soak.
type memorySample struct {
	at             time.Duration
	resident, heap uint64
}

// peak is the largest resident set (and heap) sampled in [from, to).
func peak(samples []memorySample, from, to time.Duration) memorySample {
	var p memorySample
	for _, s := range samples {
		if s.at >= from && s.at < to {
			p.resident, p.heap = max(p.resident, s.resident), max(p.heap, s.heap)
		}
	}
	return p
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
	duration := 2 * time.Second
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s=%q: want a duration such as 60s", soakEnv, v)
		duration = d
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
	f.maxRequests = soakClients // the default of 40 would shed the load above 40 on purpose
	systemd, webConfig := false, ""
	f.web = &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	serverCtx, stopServer := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() { served <- f.serve(serverCtx, logger, store, fake) }()
	waitReady(t, base)

	transport := &http.Transport{MaxIdleConnsPerHost: soakClients}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	start := time.Now()
	deadline := start.Add(duration)
	callsBefore := fake.Calls()

	// The clients: each scrapes as fast as the server answers.
	results := make([][]soakScrape, soakClients)
	var clients sync.WaitGroup
	for i := range soakClients {
		clients.Go(func() {
			for time.Now().Before(deadline) {
				s := soakScrape{start: time.Now()}
				resp, err := client.Get(base + "/metrics")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					s.nvmlFailed = strings.Contains(string(body), "\nvramfit_scrape_collector_success{collector=\"nvml\"} 0\n")
				}
				s.end, s.err = time.Now(), err
				results[i] = append(results[i], s)
			}
		})
	}

	// The faults, one phase after another; a reload in the middle of each;
	// the resident set once a second.
	phases := soakPhases()
	// Phases of a second: a 60 s soak goes through every fault five times.
	// The first round is the warm-up; memory is compared between the
	// second round and the last, each at its peak.
	phaseLength := min(time.Second, max(duration/time.Duration(len(phases)), 100*time.Millisecond))
	round := phaseLength * time.Duration(len(phases))
	var nvmlWindows []window
	var rss []memorySample
	reloads, reloadErrors := 0, 0
	nextSample := start
	for i := 0; time.Now().Before(deadline); i++ {
		p := phases[i%len(phases)]
		from := time.Now()
		fake.SetFaults(p.faults)
		end := from.Add(phaseLength)
		if end.After(deadline) {
			end = deadline
		}
		reloaded := false
		for now := time.Now(); now.Before(end); now = time.Now() {
			if !reloaded && now.After(from.Add(phaseLength/2)) {
				reloaded = true
				require.NoError(t, os.WriteFile(targetsPath, []byte(soakFile(i+1)), 0o600))
				resp, err := client.Post(base+"/-/reload", "", nil)
				reloads++
				if err != nil || resp.StatusCode != http.StatusOK {
					reloadErrors++
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
			if now.After(nextSample) {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				rss = append(rss, memorySample{at: now.Sub(start), resident: residentBytes(t), heap: m.HeapInuse})
				nextSample = nextSample.Add(phaseLength / 4)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if p.nvmlFails {
			// A read begun in the phase may end up to its delay later.
			nvmlWindows = append(nvmlWindows, window{from, end.Add(p.faults.Delay + soakScrapeTimeout)})
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
	var all []soakScrape
	for _, r := range results {
		all = append(all, r...)
	}
	var latencies []time.Duration
	failed, nvmlExpected, nvmlUnexpected := 0, 0, 0
	for _, s := range all {
		if s.err != nil {
			failed++
			if failed <= 5 {
				t.Logf("failed scrape at %s: %v", s.start.Sub(start).Round(time.Millisecond), s.err)
			}
			continue
		}
		latencies = append(latencies, s.end.Sub(s.start))
		if !s.nvmlFailed {
			continue
		}
		if slices.ContainsFunc(nvmlWindows, func(w window) bool { return s.end.After(w.from) && s.start.Before(w.to) }) {
			nvmlExpected++
		} else {
			nvmlUnexpected++
		}
	}
	slices.Sort(latencies)
	quantile := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	require.NotEmpty(t, latencies)
	snapshots := float64(calls) / fakeCallsPerHealthySnapshot

	t.Logf("soak: %s, %d clients, %d targets, 8 GPUs; %d scrapes (%.0f/s), %d failed; nvml failed in %d scrapes during its faults, %d outside them",
		elapsed.Round(time.Second), soakClients, soakTargets, len(all), float64(len(all))/elapsed.Seconds(), failed, nvmlExpected, nvmlUnexpected)
	t.Logf("soak: latency p50 %s, p99 %s, max %s; %d driver calls, about %.0f snapshots (%.1f scrapes per snapshot); %d reloads, %d failed",
		quantile(0.5).Round(100*time.Microsecond), quantile(0.99).Round(100*time.Microsecond), latencies[len(latencies)-1].Round(time.Millisecond),
		calls, snapshots, float64(len(all))/snapshots, reloads, reloadErrors)

	assert.Zero(t, failed, "failed scrapes")
	assert.Zero(t, nvmlUnexpected, "nvml failed outside the faults that fail it")
	assert.Zero(t, reloadErrors, "failed reloads")
	assert.Less(t, snapshots*4, float64(len(all)), "concurrent scrapes share the driver's reads")
	rounds := int(elapsed / round)
	if rounds >= 3 {
		second, last := peak(rss, round, 2*round), peak(rss, time.Duration(rounds-1)*round, time.Duration(rounds)*round)
		growth := float64(last.resident)/float64(second.resident) - 1
		t.Logf("soak: peak resident set %.1f MiB in the second round, %.1f MiB in round %d (%+.1f%%); peak heap in use %.1f and %.1f MiB",
			mebi(second.resident), mebi(last.resident), rounds, growth*100, mebi(second.heap), mebi(last.heap))
		assert.Less(t, growth, 0.10, "resident set growth after warm-up")
	} else {
		t.Logf("soak: %d rounds of faults; the resident set is compared from 3 on (%s=60s)", rounds, soakEnv)
	}

	stopServer()
	assert.Equal(t, 0, <-served)
	transport.CloseIdleConnections()
	goleak.VerifyNone(t, before)
	t.Logf("soak: goroutines %d before, %d after", goroutinesBefore, runtime.NumGoroutine())
}
