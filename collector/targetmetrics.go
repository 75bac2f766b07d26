package collector

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	targetLabels = []string{"target"}

	targetInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "info"),
		"A target of the targets file, with its model source, workload, weights precision and estimation method; always 1.",
		[]string{"target", "model", "workload", "precision", "method"}, nil)
	targetRequiredDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "required_bytes"),
		"Memory the target needs on each GPU it is placed on, by component, and their total; a component the estimate cannot know is absent.",
		[]string{"target", "component"}, nil)
	targetGPUsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "gpus_required"),
		"Fewest GPUs of this host's model (the one with the most memory) the target fits on when they are idle; 0 when no count does.",
		targetLabels, nil)
	targetFitsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "fits"),
		"Whether the target fits in the memory free now on this host's best devices for it (1) or not (0).",
		targetLabels, nil)
	targetFitsIdleDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "fits_when_idle"),
		"Whether the target would fit on this host's devices with nothing else running (1) or not (0).",
		targetLabels, nil)
	targetHeadroomDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "headroom_bytes"),
		"Smallest per-GPU memory left over when the target is placed on the devices that leave the most now; negative, the memory missing.",
		targetLabels, nil)
	targetPinnedDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "pinned"),
		"Whether the targets file says this host is meant to run the target (pinned: true), the hosts the per-host alerts watch (1) or not (0).",
		targetLabels, nil)
	targetMaxBatchDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "max_batch"),
		"Concurrent sequences of the target's context that fit in the memory free now (inference targets of known architecture).",
		targetLabels, nil)

	togetherDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "targets", "fit_together"),
		"Whether all the targets fit in the memory free now at once, each on its own share of the devices (1) or not (0); each target's vramfit_target_fits judges it alone.",
		nil, nil)
	togetherIdleDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "targets", "fit_together_when_idle"),
		"Whether all the targets would fit at once on this host's devices with nothing else running (1) or not (0).",
		nil, nil)
	togetherSeries, togetherIdleSeries = newSeries(togetherDesc), newSeries(togetherIdleDesc)

	targetKVTokensDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "kv_cache_tokens"),
		"Tokens the KV cache of the target's serving engine (vllm, sglang) holds for one replica, as the engine would allocate it on the memory free now.",
		targetLabels, nil)
	targetConcurrencyDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "max_concurrency"),
		"Requests of the target's full context its serving engine (vllm, sglang) would serve at once on the memory free now, as the engine logs it.",
		targetLabels, nil)

	targetDescs = []*prometheus.Desc{targetInfoDesc, targetRequiredDesc, targetGPUsDesc, targetFitsDesc,
		targetFitsIdleDesc, targetHeadroomDesc, targetMaxBatchDesc, targetKVTokensDesc, targetConcurrencyDesc,
		targetPinnedDesc, togetherDesc, togetherIdleDesc}
)

// targetMetrics are the series of a set of targets, and the samples that
// change only with the plan, built once per load and plan.
type targetMetrics struct {
	targets *Targets
	plan    *plan
	// static are the samples of every target's info, requirement and GPU
	// count; without a plan, the requirement in the target's own layout.
	static []*gaugeSample
	// verdicts are the series of the answers that change with the memory
	// free, in the order of the targets' names (the registry's); none
	// without a plan.
	verdicts []verdictSeries
}

type verdictSeries struct {
	target                       int // index in targets and placements
	fits, fitsWhenIdle, headroom *series
	maxBatch                     *series // nil where max_batch has no answer
	// kvTokens and concurrency are nil but for serving-engine targets.
	kvTokens, concurrency *series
}

func (m *targetMetrics) matches(v view) bool {
	return m != nil && m.targets == v.targets && m.plan == v.plan
}

// newTargetMetrics builds the series of v's targets. The requirement is
// per GPU on the placement's GPU count, or in the target's own layout
// while no device can be read; the verdicts need devices.
func newTargetMetrics(v view) *targetMetrics {
	m := &targetMetrics{targets: v.targets, plan: v.plan}
	// In the order of the names, each target's series are made next to
	// the next one's, as the registry will read them.
	order := make([]int, len(v.targets.targets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v.targets.targets[a].name, v.targets.targets[b].name) })
	var static []gaugeSpec
	for _, i := range order {
		t := v.targets.targets[i]
		own := t.own
		static = append(static, gaugeSpec{newSeries(targetInfoDesc, t.name, own.Model, string(own.Workload), own.Precision, string(own.Method)), 1},
			gaugeSpec{newSeries(targetPinnedDesc, t.name), boolValue(t.pinned)})
		for _, c := range v.need(i).Parts() {
			if c.Known {
				static = append(static, gaugeSpec{newSeries(targetRequiredDesc, t.name, c.Name), float64(c.Bytes)})
			}
		}
		if v.plan == nil {
			continue
		}
		gpus := newSeries(targetGPUsDesc, t.name)
		static = append(static, gaugeSpec{gpus, float64(v.plan.entries[i].fit.GPUsRequired)})
		vs := verdictSeries{target: i, fits: gpus.of(targetFitsDesc), fitsWhenIdle: gpus.of(targetFitsIdleDesc),
			headroom: gpus.of(targetHeadroomDesc)}
		if t.batchKnown {
			vs.maxBatch = gpus.of(targetMaxBatchDesc)
		}
		if t.serving {
			vs.kvTokens, vs.concurrency = gpus.of(targetKVTokensDesc), gpus.of(targetConcurrencyDesc)
		}
		m.verdicts = append(m.verdicts, vs)
	}
	m.static = constGauges(static)
	return m
}

// collectTargets exports every target of v with the series of m.
func collectTargets(ch chan<- prometheus.Metric, v view, m *targetMetrics) {
	for _, s := range m.static {
		ch <- s
	}
	if v.plan == nil {
		return
	}
	b := newGaugeSamples(6*len(m.verdicts) + 2)
	ch <- b.add(togetherSeries, boolValue(v.together.fits))
	ch <- b.add(togetherIdleSeries, boolValue(v.together.fitsWhenIdle))
	for _, vs := range m.verdicts {
		p := &v.placements[vs.target]
		ch <- b.add(vs.fits, boolValue(p.fits))
		ch <- b.add(vs.fitsWhenIdle, boolValue(p.fitsWhenIdle))
		ch <- b.add(vs.headroom, float64(p.headroom))
		if vs.maxBatch != nil {
			ch <- b.add(vs.maxBatch, float64(p.maxBatch))
		}
		if vs.kvTokens != nil {
			ch <- b.add(vs.kvTokens, float64(p.kvTokens))
			ch <- b.add(vs.concurrency, p.concurrency)
		}
	}
}
