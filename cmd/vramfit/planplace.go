package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/nvml"
)

// targetPlan is plan's answer for one target.
type targetPlan struct {
	Target           string       `json:"target"`
	Hosts            []hostAnswer `json:"hosts"`
	HostsFitNow      int          `json:"hosts_fit_now"`
	HostsFitWhenIdle int          `json:"hosts_fit_when_idle"`
	Replicas         replicaPlan  `json:"replicas"`
	StaleHosts       []staleHost  `json:"stale_hosts"`
}

// hostAnswer is one target on one host: what the host's agent would export
// if its targets file held the target.
type hostAnswer struct {
	Job      string `json:"job"`
	Instance string `json:"instance"`
	// GPU is the host's GPU model, the one gpus_required counts (memory:
	// total less reserved); null when no GPU of the host answers.
	GPU          *estimator.GPU `json:"gpu"`
	FitsNow      bool           `json:"fits_now"`
	FitsWhenIdle bool           `json:"fits_when_idle"`
	// GPUsRequired is 0 when no count of the host's GPU model fits.
	GPUsRequired  int    `json:"gpus_required"`
	HeadroomBytes int64  `json:"headroom_bytes"`
	MaxBatch      *int   `json:"max_batch"`
	UnfitReason   string `json:"unfit_reason,omitempty"`
	// Devices are the UUIDs the best placement takes now.
	Devices []string `json:"devices"`
}

// replicaPlan is where the replicas of a target go across the fleet.
type replicaPlan struct {
	Requested  int               `json:"requested"`
	Placed     int               `json:"placed"`
	Placements []replicaPosition `json:"placements"`
	// AdditionalGPUs is, for each GPU model of the fleet, what the
	// replicas left over need of it on idle GPUs; empty when all placed.
	AdditionalGPUs []additionalGPUs `json:"additional_gpus"`
}

// replicaPosition is one replica on the free GPUs of a host.
type replicaPosition struct {
	Job           string   `json:"job"`
	Instance      string   `json:"instance"`
	GPU           string   `json:"gpu"`
	Devices       []string `json:"devices"`
	HeadroomBytes int64    `json:"headroom_bytes"`
}

// additionalGPUs is how many more GPUs of one model the unplaced replicas
// need: whole replicas, each on GPUsPerReplica idle GPUs.
type additionalGPUs struct {
	GPU            estimator.GPU `json:"gpu"`
	GPUsPerReplica int           `json:"gpus_per_replica"`
	GPUs           int           `json:"gpus"`
	// UnfitReason says why no count of this model fits (then both counts
	// are 0).
	UnfitReason string `json:"unfit_reason,omitempty"`
}

// planTarget answers for the one target of set on every current host of
// fl, and places replicas of it.
func planTarget(name string, set *collector.Targets, fl *fleet, replicas int) targetPlan {
	p := targetPlan{Target: name, Hosts: make([]hostAnswer, len(fl.hosts)), StaleHosts: fl.stale}
	if p.StaleHosts == nil {
		p.StaleHosts = []staleHost{}
	}
	free := make([][]replicaPosition, len(fl.hosts))
	for i, h := range fl.hosts {
		a := hostAnswer{Job: h.job, Instance: h.instance, Devices: []string{}}
		gpu, placed := collector.Place(set, h.devices)
		if gpu == nil {
			a.UnfitReason = "no GPU of the host answers"
		} else {
			t := placed[0]
			a.GPU, a.GPUsRequired, a.UnfitReason = gpu, t.Fit.GPUsRequired, t.Fit.UnfitReason
			a.FitsNow, a.FitsWhenIdle, a.HeadroomBytes = t.Now.Fits, t.Now.FitsWhenIdle, t.Now.HeadroomBytes
			a.MaxBatch, a.Devices = t.Now.MaxBatch, t.Now.Devices
		}
		if a.FitsNow {
			p.HostsFitNow++
		}
		if a.FitsWhenIdle {
			p.HostsFitWhenIdle++
		}
		p.Hosts[i] = a
		free[i] = replicaPositions(set, h, replicas)
	}
	p.Replicas = spread(free, replicas)
	if left := replicas - p.Replicas.Placed; left > 0 {
		p.Replicas.AdditionalGPUs = additional(set.Estimations()[0], fl, left)
	}
	return p
}

// deviceKind is the devices a multi-GPU replica may span: whole GPUs of
// one model, or MIG instances of one size (which take single-GPU replicas
// only).
type deviceKind struct {
	model estimator.GPU
	mig   bool
}

// replicaPositions are up to n replicas of set's target that fit on h now,
// one after the other, none sharing a device: each placed as serve places a
// target, on the devices of one kind that the earlier ones left.
func replicaPositions(set *collector.Targets, h host, n int) []replicaPosition {
	kinds := map[deviceKind][]nvml.Device{}
	var order []deviceKind // as the host lists them
	for _, d := range h.devices {
		k := deviceKind{collector.GPUModel(d), d.IsMIG()}
		if _, seen := kinds[k]; !seen {
			order = append(order, k)
		}
		kinds[k] = append(kinds[k], d)
	}
	var out []replicaPosition
	for _, k := range order {
		devices := kinds[k]
		// Each replica takes at least one device: at most len(devices) fit.
		for range len(devices) {
			if len(out) == n {
				return out
			}
			gpu, placed := collector.Place(set, devices)
			if gpu == nil || !placed[0].Now.Fits || k.mig && len(placed[0].Now.Devices) > 1 {
				break
			}
			now := placed[0].Now
			out = append(out, replicaPosition{Job: h.job, Instance: h.instance, GPU: gpu.Name,
				Devices: now.Devices, HeadroomBytes: now.HeadroomBytes})
			devices = slices.DeleteFunc(devices, func(d nvml.Device) bool { return slices.Contains(now.Devices, d.UUID) })
		}
	}
	return out
}

// spread places n replicas on the positions free on each host, one host
// after the other in turn, so that replicas share a host only when the
// hosts run out.
func spread(free [][]replicaPosition, n int) replicaPlan {
	r := replicaPlan{Requested: n, Placements: []replicaPosition{}, AdditionalGPUs: []additionalGPUs{}}
	for round := 0; r.Placed < n; round++ {
		placed := false
		for _, positions := range free {
			if round < len(positions) && r.Placed < n {
				r.Placements = append(r.Placements, positions[round])
				r.Placed++
				placed = true
			}
		}
		if !placed {
			break
		}
	}
	return r
}

// additional is, for each GPU model of fl's current hosts, the idle GPUs
// of it that left replicas of est's target need.
func additional(est *estimator.Estimation, fl *fleet, left int) []additionalGPUs {
	var models []estimator.GPU
	for _, h := range fl.hosts {
		for _, d := range h.devices {
			if d.Err != nil || d.IsMIG() {
				continue
			}
			if g := collector.GPUModel(d); !slices.Contains(models, g) {
				models = append(models, g)
			}
		}
	}
	slices.SortFunc(models, func(a, b estimator.GPU) int {
		return cmp.Or(cmp.Compare(b.MemoryBytes, a.MemoryBytes), cmp.Compare(a.Name, b.Name))
	})
	out := make([]additionalGPUs, len(models))
	for i, g := range models {
		fit := est.ForGPU(g)
		out[i] = additionalGPUs{GPU: g, GPUsPerReplica: fit.GPUsRequired, GPUs: left * fit.GPUsRequired, UnfitReason: fit.UnfitReason}
	}
	return out
}

// writePlanTable prints one target's plan for a reader.
func writePlanTable(w io.Writer, p targetPlan) {
	fmt.Fprintf(w, "target %s: fits now on %d of %d hosts, when idle on %d\n\n", p.Target, p.HostsFitNow, len(p.Hosts), p.HostsFitWhenIdle)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tGPU\tGPUS\tFITS NOW\tFITS IDLE\tHEADROOM GiB\tDEVICES")
	for _, h := range p.Hosts {
		gpu, gpus := "-", "-"
		if h.GPU != nil {
			gpu = h.GPU.Name
		}
		if h.GPUsRequired > 0 {
			gpus = fmt.Sprint(h.GPUsRequired)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Instance, gpu, gpus, yesNo(h.FitsNow), yesNo(h.FitsWhenIdle),
			gib(h.HeadroomBytes), strings.Join(h.Devices, ","))
	}
	tw.Flush()
	for _, h := range p.Hosts {
		if h.UnfitReason != "" {
			fmt.Fprintf(w, "  %s: %s\n", h.Instance, h.UnfitReason)
		}
	}
	r := p.Replicas
	fmt.Fprintf(w, "\nreplicas: %d of %d placed\n", r.Placed, r.Requested)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, pos := range r.Placements {
		fmt.Fprintf(tw, "  %d\t%s\t%d × %s\theadroom %s GiB\t%s\n", i+1, pos.Instance, len(pos.Devices), pos.GPU,
			gib(pos.HeadroomBytes), strings.Join(pos.Devices, ","))
	}
	tw.Flush()
	if len(r.AdditionalGPUs) > 0 {
		fmt.Fprintf(w, "the %d replicas left need, on idle GPUs of one of the fleet's models:\n", r.Requested-r.Placed)
		for _, a := range r.AdditionalGPUs {
			if a.GPUsPerReplica == 0 {
				fmt.Fprintf(w, "  %s: does not fit: %s\n", a.GPU.Name, a.UnfitReason)
				continue
			}
			fmt.Fprintf(w, "  %d more %s (%d per replica)\n", a.GPUs, a.GPU.Name, a.GPUsPerReplica)
		}
	}
	for _, s := range p.StaleHosts {
		fmt.Fprintf(w, "stale, left out: %s: %s\n", s.Instance, s.Reason)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
