package collector

import (
	"net/http"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/report"
	"github.com/vramfit/vramfit/nvml"
)

// TargetsResponse is the body of /api/v1/targets.
type TargetsResponse struct {
	// GPU is the host's GPU model the targets are planned for (its
	// memory_bytes: total less reserved); null while no device can be read.
	GPU *estimator.GPU `json:"gpu"`
	// NVMLError says why the GPUs could not be read; "" when they could.
	NVMLError string         `json:"nvml_error"`
	Targets   []TargetStatus `json:"targets"`
	// Together says whether all the targets fit on the host at once (each
	// target's Now judges it alone); null while no device can be read.
	Together *Together `json:"together"`
}

// Together is the host-level answer, the vramfit_targets_fit_together
// metrics: whether all the targets fit at once.
type Together struct {
	Fits         bool `json:"fits"`
	FitsWhenIdle bool `json:"fits_when_idle"`
	// Left names the targets the joint placement found no room for now.
	Left []string `json:"left"`
}

// TargetStatus is one target: the estimator's report for the host's GPU
// model (for the target's own layout while no device can be read), and
// where it fits now.
type TargetStatus struct {
	report.Report
	Now *Placement `json:"now"`
}

// Placement is a target placed on the host's devices now; the same
// answers as the vramfit_target_* metrics.
type Placement struct {
	Fits          bool  `json:"fits"`
	FitsWhenIdle  bool  `json:"fits_when_idle"`
	HeadroomBytes int64 `json:"headroom_bytes"`
	// MaxBatch is null where the estimator cannot answer it (training,
	// an unknown architecture, the rule-of-thumb method).
	MaxBatch *int `json:"max_batch"`
	// KVCacheTokens and MaxConcurrency are a serving engine's (vllm,
	// sglang) on the memory free now; null for other targets.
	KVCacheTokens  *int64   `json:"kv_cache_tokens"`
	MaxConcurrency *float64 `json:"max_concurrency"`
	// Devices are the UUIDs of the devices chosen, most room first.
	Devices []string `json:"devices"`
}

// TargetsHandler serves /api/v1/targets.
func (c *Collector) TargetsHandler() http.Handler {
	return c.shared("targets", func() response {
		return jsonResponse(http.StatusOK, c.targetsResponse(c.look()), c.logger)
	})
}

func (c *Collector) targetsResponse(v view) TargetsResponse {
	resp := TargetsResponse{Targets: make([]TargetStatus, len(v.targets.targets))}
	if v.nvmlErr != nil {
		resp.NVMLError = v.nvmlErr.Error()
	}
	if v.plan != nil {
		resp.GPU = &v.plan.gpu
		resp.Together = &Together{Fits: v.together.fits, FitsWhenIdle: v.together.fitsWhenIdle,
			Left: v.targets.names(v.together.left)}
	}
	for i, t := range v.targets.targets {
		if v.plan == nil {
			resp.Targets[i] = TargetStatus{Report: t.own}
			continue
		}
		now := v.now(i)
		resp.Targets[i] = TargetStatus{Report: v.plan.estimate(&v.plan.entries[i]), Now: &now}
	}
	return resp
}

// now is where target i is placed, as the API shows it.
func (v view) now(i int) Placement {
	p := v.placements[i]
	now := Placement{Fits: p.fits, FitsWhenIdle: p.fitsWhenIdle, HeadroomBytes: p.headroom,
		Devices: make([]string, len(p.devices))}
	for j, d := range p.devices {
		now.Devices[j] = v.snapshot.Devices[d].UUID
	}
	if v.targets.targets[i].batchKnown {
		now.MaxBatch = &p.maxBatch
	}
	if v.targets.targets[i].serving {
		now.KVCacheTokens, now.MaxConcurrency = &p.kvTokens, &p.concurrency
	}
	return now
}

// InventoryHandler serves /api/v1/inventory: the devices in the shape of
// `vramfit inventory --output json`, or 503 with the reason when NVML
// cannot be read.
func (c *Collector) InventoryHandler() http.Handler {
	return c.shared("inventory", func() response {
		pods := c.askPods()
		s, err := c.readDevices()
		if err != nil {
			return jsonResponse(http.StatusServiceUnavailable, map[string]string{"error": err.Error()}, c.logger)
		}
		inv := nvml.NewInventory(s)
		c.holdersOf(pods).addTo(&inv)
		return jsonResponse(http.StatusOK, inv, c.logger)
	})
}
