package collector

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/report"
	"github.com/vramfit/vramfit/nvml"
)

// deviceSize is a kind of device as placement sees it: devices of one size
// offer a target the same memory.
type deviceSize struct {
	name            string
	total, reserved uint64
}

func sizeOf(d nvml.Device) deviceSize {
	z := deviceSize{name: d.Name, total: d.Memory.Total}
	if d.Memory.HasReserved {
		z.reserved = d.Memory.Reserved
	}
	return z
}

// offered is the memory a device of this size has for programs: its total
// less what the driver reserves (the nvml package guarantees reserved ≤ total).
func (z deviceSize) offered() uint64 { return z.total - z.reserved }

// gpu is the GPU model of this size, as the estimator counts GPUs of it.
func (z deviceSize) gpu() estimator.GPU {
	return estimator.GPU{Name: z.name, MemoryBytes: toInt64(z.offered())}
}

// GPUModel is the GPU model of d, as placement counts GPUs of it: its name
// and the memory it offers programs.
func GPUModel(d nvml.Device) estimator.GPU { return sizeOf(d).gpu() }

// sortSizes orders sizes by the memory they offer, largest first, and
// drops duplicates: the first is the host's GPU model.
func sortSizes(sizes []deviceSize) []deviceSize {
	slices.SortFunc(sizes, func(a, b deviceSize) int {
		return cmp.Or(cmp.Compare(b.offered(), a.offered()), cmp.Compare(a.name, b.name),
			cmp.Compare(a.total, b.total))
	})
	return slices.Compact(sizes)
}

// plan is the targets planned on a host's device sizes. It is computed
// when the targets load or the set of sizes changes, never per scrape.
type plan struct {
	targets *Targets
	sizes   []deviceSize // distinct, most memory first
	// gpu is the host's GPU model, the one gpus_required counts: on a host
	// with devices of several sizes, the size offering the most memory.
	gpu     estimator.GPU
	entries []planEntry // one per target, in file order
	// packOrder is the order placeTogether packs the entries in.
	packOrder []int
	work      *atomic.Uint64
}

// planEntry is one target's part of a plan.
type planEntry struct {
	target *target
	fit    estimator.Fit
	// gpus is the number of devices the target is placed on: GPUsRequired,
	// or when no count fits the GPUs of the target's own layout.
	gpus int
	// capacity is what a device of each size offers the target when idle
	// (its memory cap applied), parallel to plan.sizes.
	capacity []int64

	lastBatch  atomic.Pointer[batchAnswer]
	lastEngine atomic.Pointer[engineAnswer]
	reportOnce sync.Once
	report     report.Report
}

// batchAnswer is a max_batch search and the budget it was made for.
type batchAnswer struct {
	budget int64
	batch  int
}

func newPlan(set *Targets, sizes []deviceSize, work *atomic.Uint64) *plan {
	host := sizes[0]
	p := &plan{
		targets: set,
		sizes:   sizes,
		gpu:     host.gpu(),
		entries: make([]planEntry, len(set.targets)),
		work:    work,
	}
	for i, t := range set.targets {
		e := &p.entries[i]
		e.target = t
		work.Add(1)
		e.fit = t.est.ForGPU(p.gpu)
		e.gpus = e.fit.GPUsRequired
		if e.gpus == 0 {
			e.gpus = max(e.fit.Layout.GPUs(), 1)
		}
		e.capacity = make([]int64, len(sizes))
		for j, z := range sizes {
			e.capacity[j] = t.est.Usable(toInt64(z.total), toInt64(z.reserved))
		}
	}
	p.packOrder = packOrder(p.entries)
	return p
}

func (p *plan) matches(set *Targets, sizes []deviceSize) bool {
	return p != nil && p.targets == set && slices.Equal(p.sizes, sizes)
}

// need is the target's per-GPU requirement on e.gpus GPUs.
func (e *planEntry) need() int64 { return e.fit.PerGPU.Total }

// maxBatch is how many sequences fit when each of the placement's GPUs
// offers budget bytes. The search runs again only when the budget moved.
func (p *plan) maxBatch(e *planEntry, budget int64) int {
	if e.fit.GPUsRequired == 0 || budget <= 0 {
		return 0
	}
	if a := e.lastBatch.Load(); a != nil && a.budget == budget {
		return a.batch
	}
	p.work.Add(1)
	batch := e.target.est.MaxBatch(budget, e.gpus)
	e.lastBatch.Store(&batchAnswer{budget: budget, batch: batch})
	return batch
}

// engineAnswer is a serving engine's verdict on its placement and the free
// memory (of the placement's fullest device) it was made for.
type engineAnswer struct {
	free        int64
	starts      bool
	tokens      int64
	concurrency float64
}

// engine is what the target's serving engine does when each of the
// placement's GPUs has free bytes free: whether it starts, the KV cache
// tokens it allocates and the concurrency it logs. It is computed again
// only when that memory moved.
func (p *plan) engine(e *planEntry, free int64) engineAnswer {
	if a := e.lastEngine.Load(); a != nil && a.free == free {
		return *a
	}
	p.work.Add(1)
	host := p.sizes[0]
	a := engineAnswer{free: free}
	r, err := e.target.est.ServingEngine(e.fit.Layout, estimator.EngineGPU{Name: host.name,
		TotalBytes: toInt64(host.total), ReservedBytes: toInt64(host.reserved), FreeBytes: free})
	if err == nil {
		a.starts, a.tokens, a.concurrency = r.Starts, r.KVCacheTokens, r.MaxConcurrency
	}
	e.lastEngine.Store(&a)
	return a
}

// estimate is the estimator's report for the host's GPU model, made on the
// first request that asks for it.
func (p *plan) estimate(e *planEntry) report.Report {
	e.reportOnce.Do(func() {
		p.work.Add(1)
		e.report = report.New(e.target.est, &p.gpu)
	})
	return e.report
}

// toInt64 converts a byte count, saturating instead of wrapping.
func toInt64(b uint64) int64 {
	if b > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(b)
}
