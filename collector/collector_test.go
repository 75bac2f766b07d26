package collector

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/nvml"
)

var gpuFamilies = []string{
	"vramfit_driver_info", "vramfit_gpu_info", "vramfit_gpu_up", "vramfit_gpu_memory_total_bytes",
	"vramfit_gpu_memory_used_bytes", "vramfit_gpu_memory_free_bytes", "vramfit_gpu_memory_reserved_bytes",
	"vramfit_gpu_utilization_ratio", "vramfit_gpu_temperature_celsius", "vramfit_gpu_power_watts",
}

// The GPU families of each fleet equal what testdata/*.prom works out by
// hand from the fleet file.
func TestCollectGPUs(t *testing.T) {
	for _, name := range []string{"two-h100", "v1-t4", "mig"} {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/"+name+".yml"), testTargets)
			want, err := os.Open("testdata/" + name + ".prom")
			require.NoError(t, err)
			defer want.Close()
			assert.NoError(t, testutil.CollectAndCompare(c, want, gpuFamilies...))
		})
	}
}

// Figures of testdata/fleets/two-h100.yml.
const (
	h100Total    = 81559 * mib // an H100 80GB HBM3's total (NVIDIA/nccl#1264)
	h100Reserved = 512 * mib
	h100Offered  = h100Total - h100Reserved
	gpu0Free     = h100Offered - 40*gib
	h100Name     = "NVIDIA H100 80GB HBM3"
)

// capped is what a device offering `offered` bytes gives a target whose
// runtime may use the share util of it (vLLM's gpu_memory_utilization).
func capped(offered int64, util float64) int64 { return int64(math.Floor(float64(offered) * util)) }

// targetWant is what one target of testdata/targets.yml must export on a
// host, as docs/metrics.md defines it, given the per-GPU need the
// estimator computes for it.
type targetWant struct {
	name                       string
	model, workload, precision string
	gpusRequired               int
	headroom                   func(need int64) int64
	fits, fitsWhenIdle         bool
	batchBudget                int64 // memory each GPU offers for max_batch; -1: no max_batch
	pinned                     bool
	unknown                    []string
}

func TestCollectTargets(t *testing.T) {
	inferenceCap := capped(h100Offered, estimator.DefaultInferenceUtilization)
	wants := []targetWant{
		// One idle GPU takes it: the headroom is its capped memory less the need.
		{name: "chat", model: "llama-3-8b", workload: "inference", precision: "bf16", gpusRequired: 1,
			headroom: func(need int64) int64 { return inferenceCap - need }, fits: true, fitsWhenIdle: true,
			batchBudget: inferenceCap, pinned: true},
		// Two GPUs: the second best is GPU 0, whose free memory is below
		// the need, so it fits only when idle.
		{name: "big", model: "llama-3.1-70b", workload: "inference", precision: "fp8", gpusRequired: 2,
			headroom: func(need int64) int64 { return gpu0Free - need }, fits: false, fitsWhenIdle: true,
			batchBudget: gpu0Free},
		// Unknown components are absent; no max_batch without an architecture.
		{name: "bare", model: "13B", workload: "inference", precision: "bf16", gpusRequired: 1,
			headroom: func(need int64) int64 { return inferenceCap - need }, fits: true, fitsWhenIdle: true,
			batchBudget: -1, unknown: []string{"kv_cache", "activations"}},
		// Needs three GPUs on a host of two: the missing one offers
		// nothing, so the headroom is minus the need.
		{name: "train", model: "llama-3-8b", workload: "training", precision: "bf16", gpusRequired: 3,
			headroom: func(need int64) int64 { return -need }, batchBudget: -1},
		// No count fits: judged on its own layout, one GPU, the idle one
		// (training has no memory cap).
		{name: "huge", model: "llama-3.1-405b", workload: "training", precision: "bf16", gpusRequired: 0,
			headroom: func(need int64) int64 { return h100Offered - need }, batchBudget: -1},
	}
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	host := estimator.GPU{Name: h100Name, MemoryBytes: h100Offered}
	var lines expectedLines
	for _, w := range wants {
		est := estimationOf(t, store, w.name)
		fit := est.ForGPU(host)
		require.Equal(t, w.gpusRequired, fit.GPUsRequired, "%s: the case rests on this count", w.name)
		need := fit.PerGPU.Total
		require.Positive(t, need)
		lines.info(w)
		lines.components(w.name, fit.PerGPU, w.unknown)
		lines.add("vramfit_target_gpus_required", w.name, float64(w.gpusRequired))
		lines.add("vramfit_target_fits", w.name, boolValue(w.fits))
		lines.add("vramfit_target_fits_when_idle", w.name, boolValue(w.fitsWhenIdle))
		lines.add("vramfit_target_headroom_bytes", w.name, float64(w.headroom(need)))
		if w.batchBudget >= 0 {
			lines.add("vramfit_target_max_batch", w.name, float64(est.MaxBatch(w.batchBudget, w.gpusRequired)))
		}
	}
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(lines.String()), targetFamilies...))
}

var targetFamilies = []string{
	"vramfit_target_info", "vramfit_target_required_bytes", "vramfit_target_gpus_required", "vramfit_target_fits",
	"vramfit_target_fits_when_idle", "vramfit_target_headroom_bytes", "vramfit_target_max_batch",
	"vramfit_target_kv_cache_tokens", "vramfit_target_max_concurrency", "vramfit_target_pinned",
}

// Without NVML the targets are still exported: their info and their
// requirement in their own layout, without verdicts; the nvml collector
// reports the failure and the targets collector succeeds.
func TestCollectWithoutNVML(t *testing.T) {
	fake := fleetFrom(t, `
gpus: [{board: h100-sxm5-80gb}]
faults: {unavailable: "libnvidia-ml.so.1: cannot open shared object file"}
`)
	c, store := newTestCollector(t, fake, testTargets)
	var lines expectedLines
	for _, w := range []targetWant{
		{name: "chat", model: "llama-3-8b", workload: "inference", precision: "bf16", pinned: true},
		{name: "big", model: "llama-3.1-70b", workload: "inference", precision: "fp8"},
		{name: "bare", model: "13B", workload: "inference", precision: "bf16", unknown: []string{"kv_cache", "activations"}},
		{name: "train", model: "llama-3-8b", workload: "training", precision: "bf16"},
		{name: "huge", model: "llama-3.1-405b", workload: "training", precision: "bf16"},
	} {
		lines.info(w)
		lines.components(w.name, estimationOf(t, store, w.name).Requirement().Components, w.unknown)
	}
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(lines.String()), targetFamilies...))
	assert.Equal(t, 0, testutil.CollectAndCount(c, gpuFamilies...))
	assertScrapeSuccess(t, c, map[string]float64{"nvml": 0, "targets": 0})
}

// A lost GPU keeps its identity with up 0 and no readings; the other GPU
// and the targets placed on it are intact.
func TestCollectLostGPU(t *testing.T) {
	fake := openFleet(t, "testdata/fleets/two-h100.yml")
	fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 1}}})
	c, store := newTestCollector(t, fake, testTargets)

	full, err := os.ReadFile("testdata/two-h100.prom")
	require.NoError(t, err)
	var want []string
	for line := range strings.Lines(string(full)) {
		switch {
		case strings.Contains(line, `uuid="GPU-00000000-0000-0000-0000-000000000001"`) && strings.HasPrefix(line, "vramfit_gpu_up"):
			want = append(want, strings.Replace(line, "} 1", "} 0", 1))
		case strings.Contains(line, `uuid="GPU-00000000-0000-0000-0000-000000000001"`) && !strings.HasPrefix(line, "vramfit_gpu_info"):
			// a lost GPU's readings are absent, not stale
		default:
			want = append(want, line)
		}
	}
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(strings.Join(want, "")), gpuFamilies...))

	// chat now goes on GPU 0, whose free memory is below its capped memory;
	// big needs two GPUs and the host has one left.
	host := estimator.GPU{Name: h100Name, MemoryBytes: h100Offered}
	chatNeed := estimationOf(t, store, "chat").ForGPU(host).PerGPU.Total
	bigNeed := estimationOf(t, store, "big").ForGPU(host).PerGPU.Total
	got := gaugeValues(t, c)
	assert.Equal(t, float64(gpu0Free-chatNeed), got["vramfit_target_headroom_bytes/chat"])
	assert.Equal(t, 1.0, got["vramfit_target_fits/chat"])
	assert.Equal(t, float64(-bigNeed), got["vramfit_target_headroom_bytes/big"])
	assert.Equal(t, 0.0, got["vramfit_target_fits/big"])
	assert.Equal(t, 0.0, got["vramfit_target_fits_when_idle/big"])
	assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1})
}

// With every GPU down the targets fit nowhere: the GPUs last seen are still
// installed, so gpus_required stands and each target lacks its whole need.
// Before any GPU has been seen up there is nothing to count on: no verdicts.
func TestCollectAllGPUsLost(t *testing.T) {
	allLost := nvml.Faults{Lost: []nvml.LostGPU{{GPU: 0}, {GPU: 1}}}
	fake := openFleet(t, "testdata/fleets/two-h100.yml")
	c, store := newTestCollector(t, fake, testTargets)
	before := gaugeValues(t, c)
	fake.SetFaults(allLost)
	got := gaugeValues(t, c)
	assert.Equal(t, 0.0, got["vramfit_gpu_up/0,GPU-00000000-0000-0000-0000-000000000000"])
	assert.Equal(t, 0.0, got["vramfit_gpu_up/1,GPU-00000000-0000-0000-0000-000000000001"])
	host := estimator.GPU{Name: h100Name, MemoryBytes: h100Offered}
	for _, name := range []string{"chat", "big", "bare", "train", "huge"} {
		need := estimationOf(t, store, name).ForGPU(host).PerGPU.Total
		assert.Equal(t, before["vramfit_target_gpus_required/"+name], got["vramfit_target_gpus_required/"+name], name)
		assert.Equal(t, 0.0, got["vramfit_target_fits/"+name], name)
		assert.Equal(t, 0.0, got["vramfit_target_fits_when_idle/"+name], name)
		assert.Equal(t, float64(-need), got["vramfit_target_headroom_bytes/"+name], name)
	}
	assert.Equal(t, 0.0, got["vramfit_target_max_batch/chat"])

	fresh := openFleet(t, "testdata/fleets/two-h100.yml")
	fresh.SetFaults(allLost)
	c, _ = newTestCollector(t, fresh, testTargets)
	assert.Equal(t, 0, testutil.CollectAndCount(c, "vramfit_target_fits", "vramfit_target_gpus_required"))
	assert.Equal(t, 5, testutil.CollectAndCount(c, "vramfit_target_info"))
}

// A GPU in MIG mode is placed on through its instances, never whole: chat
// goes on the idle 3g.40gb instance, although the split GPU has far more
// free memory in all; gpus_required counts the whole A100, the host's
// largest model. A MIG instance takes single-GPU targets only.
func TestCollectMIG(t *testing.T) {
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/mig.yml"), testTargets)
	v := c.look()
	require.NoError(t, v.nvmlErr)
	require.NotNil(t, v.plan)
	assert.Equal(t, estimator.GPU{Name: "NVIDIA A100-SXM4-80GB", MemoryBytes: (81920 - 512) * mib}, v.plan.gpu)

	chat := placementOf(t, v, "chat")
	require.Len(t, chat.devices, 1)
	assert.Equal(t, "MIG-00000000-0000-0000-0000-000000000001", v.snapshot.Devices[chat.devices[0]].UUID)
	need := estimationOf(t, store, "chat").ForGPU(v.plan.gpu).PerGPU.Total
	// The 3g.40gb profile's 40192 MiB with vLLM's 0.90 cap.
	assert.Equal(t, capped(40192*mib, estimator.DefaultInferenceUtilization)-need, chat.headroom)
	assert.True(t, chat.fits)
	assert.True(t, chat.fitsWhenIdle)

	// big needs two GPUs. Tensor parallelism spans whole GPUs of one
	// model, never a MIG instance: the host has one whole GPU, too few
	// even when idle.
	big := placementOf(t, v, "big")
	assert.Equal(t, []int{3}, big.devices, "the whole A100 alone")
	bigNeed := estimationOf(t, store, "big").ForGPU(v.plan.gpu).PerGPU.Total
	assert.Equal(t, -bigNeed, big.headroom)
	assert.False(t, big.fits)
	assert.False(t, big.fitsWhenIdle)
	for _, p := range v.placements {
		for _, d := range p.devices {
			assert.NotEqual(t, "GPU-00000000-0000-0000-0000-0000000000a0", v.snapshot.Devices[d].UUID,
				"the GPU in MIG mode is not a device of its own")
		}
	}
}

// Requirements are computed when the targets load and when the devices'
// sizes change, never per scrape: the estimator is not called again while
// the memory free stays the same.
func TestScrapesDoNoEstimatorWork(t *testing.T) {
	fake := openFleet(t, "testdata/fleets/two-h100.yml")
	c, store := newTestCollector(t, fake, testTargets)
	targets := uint64(store.Targets().Len())
	require.Equal(t, targets, store.work.Load(), "one estimate per target at load")

	testutil.CollectAndCount(c)
	// The first scrape meets the devices: one placement per target, one
	// max_batch search per target that has one (chat and big).
	afterFirst := store.work.Load()
	assert.Equal(t, targets+targets+2, afterFirst)
	for range 5 {
		testutil.CollectAndCount(c)
	}
	assert.Equal(t, afterFirst, store.work.Load(), "scrapes made estimator calls")

	// A GPU lost on a host of one model changes no size: no new plan. It
	// changes big's budget (it now lacks a GPU, so no search) and chat's
	// (now GPU 0's free memory): one search.
	fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 1}}})
	testutil.CollectAndCount(c)
	assert.Equal(t, afterFirst+1, store.work.Load())
}

// A driver slower than the scrape timeout is abandoned: the scrape ends at
// the timeout with the targets and nvml's failure.
func TestCollectSlowDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := fleetFrom(t, "gpus: [{board: h100-sxm5-80gb}]\nfaults: {delay: 300ms}\n")
		store := loadedStore(t, testTargets)
		c := New(fake, store, 20*time.Millisecond, discard())
		start := time.Now()
		assert.Equal(t, 5, testutil.CollectAndCount(c, "vramfit_target_info"))
		assert.Equal(t, 20*time.Millisecond, time.Since(start), "the scrape waited for the driver")
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 0, "targets": 0})
		time.Sleep(time.Second) // on the bubble's clock: the abandoned read ends
	})
}

// Every family passes the linter of `promtool check metrics`, on a host
// with every kind of device and target.
func TestLint(t *testing.T) {
	for _, fleet := range []string{"testdata/fleets/two-h100.yml", "testdata/fleets/mig.yml", "testdata/fleets/v1-t4.yml"} {
		c, store := newTestCollector(t, openFleet(t, fleet), testTargets)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c, store, versioncollector.NewCollector("vramfit"))
		problems, err := testutil.GatherAndLint(reg)
		require.NoError(t, err)
		assert.Empty(t, problems, fleet)
	}
}

// Describe lists every family Collect can send, and nothing twice.
func TestDescribeIsComplete(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	ch := make(chan *prometheus.Desc, 64)
	c.Describe(ch)
	close(ch)
	var described []string
	for d := range ch {
		described = append(described, d.String())
	}
	assert.Len(t, described, len(gpuFamilies)+len(targetFamilies)+len(togetherFamilies)+2)
	seen := map[string]bool{}
	for _, d := range described {
		assert.False(t, seen[d], "described twice: %s", d)
		seen[d] = true
	}
	// The pedantic registry fails a scrape that sends an undescribed family.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	_, err := reg.Gather()
	assert.NoError(t, err)
}

func assertScrapeSuccess(t *testing.T, c prometheus.Collector, want map[string]float64) {
	t.Helper()
	var lines strings.Builder
	lines.WriteString("# HELP vramfit_scrape_collector_success Whether a collector succeeded at this scrape: nvml reads the GPUs, targets places the targets on them (0 while no GPU can be read: the targets' verdicts are missing), processes and pods (when turned on) list who holds the GPUs.\n")
	lines.WriteString("# TYPE vramfit_scrape_collector_success gauge\n")
	for _, name := range slices.Sorted(maps.Keys(want)) {
		fmt.Fprintf(&lines, "vramfit_scrape_collector_success{collector=%q} %v\n", name, want[name])
	}
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(lines.String()), "vramfit_scrape_collector_success"))
}

func estimationOf(t *testing.T, store *TargetStore, name string) *estimator.Estimation {
	t.Helper()
	for _, tg := range store.Targets().targets {
		if tg.name == name {
			return tg.est
		}
	}
	require.FailNow(t, "no target "+name)
	return nil
}

func placementOf(t *testing.T, v view, name string) placement {
	t.Helper()
	for i, tg := range v.targets.targets {
		if tg.name == name {
			return v.placements[i]
		}
	}
	require.FailNow(t, "no target "+name)
	return placement{}
}

// gaugeValues collects c and returns each series' value under its family
// name, followed for labelled series by "/" and the label values in the
// order of the label names: "vramfit_target_fits/chat".
func gaugeValues(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			if len(labels) > 0 {
				key += "/" + strings.Join(labels, ",")
			}
			values[key] = m.GetGauge().GetValue()
		}
	}
	return values
}

// expectedLines writes target families in the text format, HELP and TYPE
// included, for CollectAndCompare.
type expectedLines struct{ samples map[string][]string }

var targetHelp = map[string]string{
	"vramfit_target_info":           "A target of the targets file, with its model source, workload, weights precision and estimation method; always 1.",
	"vramfit_target_required_bytes": "Memory the target needs on each GPU it is placed on, by component, and their total; a component the estimate cannot know is absent.",
	"vramfit_target_gpus_required":  "Fewest GPUs of this host's model (the one with the most memory) the target fits on when they are idle; 0 when no count does.",
	"vramfit_target_fits":           "Whether the target fits in the memory free now on this host's best devices for it (1) or not (0).",
	"vramfit_target_fits_when_idle": "Whether the target would fit on this host's devices with nothing else running (1) or not (0).",
	"vramfit_target_headroom_bytes": "Smallest per-GPU memory left over when the target is placed on the devices that leave the most now; negative, the memory missing.",
	"vramfit_target_max_batch":      "Concurrent sequences of the target's context that fit in the memory free now (inference targets of known architecture).",
	"vramfit_target_pinned":         "Whether the targets file says this host is meant to run the target (pinned: true), the hosts the per-host alerts watch (1) or not (0).",
}

func (e *expectedLines) line(family, labels string, value float64) {
	if e.samples == nil {
		e.samples = map[string][]string{}
	}
	e.samples[family] = append(e.samples[family], fmt.Sprintf("%s{%s} %v", family, labels, value))
}

func (e *expectedLines) add(family, target string, value float64) {
	e.line(family, fmt.Sprintf("target=%q", target), value)
}

func (e *expectedLines) info(w targetWant) {
	e.add("vramfit_target_pinned", w.name, boolValue(w.pinned))
	e.line("vramfit_target_info", fmt.Sprintf("method=\"detailed\",model=%q,precision=%q,target=%q,workload=%q",
		w.model, w.precision, w.name, w.workload), 1)
}

// components adds the known components of c; unknown ones are absent.
func (e *expectedLines) components(target string, c estimator.Components, unknown []string) {
	for _, part := range []struct {
		name  string
		bytes int64
	}{{"weights", c.Weights}, {"kv_cache", c.KVCache}, {"activations", c.Activations}, {"gradients", c.Gradients},
		{"optimizer", c.Optimizer}, {"overhead", c.Overhead}, {"total", c.Total}} {
		if !slices.Contains(unknown, part.name) {
			e.line("vramfit_target_required_bytes", fmt.Sprintf("component=%q,target=%q", part.name, target), float64(part.bytes))
		}
	}
}

func (e *expectedLines) String() string {
	families := make([]string, 0, len(e.samples))
	for f := range e.samples {
		families = append(families, f)
	}
	sort.Strings(families)
	var b strings.Builder
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", f, targetHelp[f], f)
		for _, s := range e.samples[f] {
			b.WriteString(s + "\n")
		}
	}
	return b.String()
}
