package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/estimator"
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
	targetMaxBatchDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "target", "max_batch"),
		"Concurrent sequences of the target's context that fit in the memory free now (inference targets of known architecture).",
		targetLabels, nil)

	targetDescs = []*prometheus.Desc{targetInfoDesc, targetRequiredDesc, targetGPUsDesc, targetFitsDesc,
		targetFitsIdleDesc, targetHeadroomDesc, targetMaxBatchDesc}
)

// collectTargets exports every target of v. The requirement is per GPU on
// the placement's GPU count, or in the target's own layout while no device
// can be read; the verdicts need devices and are absent without them.
func collectTargets(ch chan<- prometheus.Metric, v view) {
	for i, t := range v.targets.targets {
		own := t.own
		send(ch, targetInfoDesc, 1, t.name, own.Model, string(own.Workload), own.Precision, string(own.Method))
		need := t.est.Requirement().Components
		if v.plan != nil {
			need = v.plan.entries[i].fit.PerGPU
		}
		for _, c := range components(need) {
			if c.known {
				send(ch, targetRequiredDesc, float64(c.bytes), t.name, c.name)
			}
		}
		if v.plan == nil {
			continue
		}
		e, p := &v.plan.entries[i], v.placements[i]
		send(ch, targetGPUsDesc, float64(e.fit.GPUsRequired), t.name)
		send(ch, targetFitsDesc, boolValue(p.fits), t.name)
		send(ch, targetFitsIdleDesc, boolValue(p.fitsWhenIdle), t.name)
		send(ch, targetHeadroomDesc, float64(p.headroom), t.name)
		if t.batchKnown {
			send(ch, targetMaxBatchDesc, float64(p.maxBatch), t.name)
		}
	}
}

// component is one part of a requirement.
type component struct {
	name  string
	bytes int64
	known bool
}

// components lists c's parts in a fixed order, total last, each marked
// unknown where the estimator could not estimate it.
func components(c estimator.Components) []component {
	parts := []component{
		{name: "weights", bytes: c.Weights}, {name: "kv_cache", bytes: c.KVCache},
		{name: "activations", bytes: c.Activations}, {name: "gradients", bytes: c.Gradients},
		{name: "optimizer", bytes: c.Optimizer}, {name: "overhead", bytes: c.Overhead},
		{name: "total", bytes: c.Total},
	}
	for i := range parts {
		parts[i].known = !slices.Contains(c.Unknown, parts[i].name)
	}
	return parts
}
