package collector

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/nvml"
)

// PlacedTarget is a target placed on a host: its fit on the host's GPU
// model, and the devices it takes now.
type PlacedTarget struct {
	Fit estimator.Fit
	Now Placement
}

// Place places each target of set on devices as a scrape of an agent with
// set's targets does: the same plan on the host's GPU model (the size
// offering the most memory) and the same choice of devices. gpu is nil and
// placed empty when no device can take a target (none is up).
func Place(set *Targets, devices []nvml.Device) (gpu *estimator.GPU, placed []PlacedTarget) {
	cands, sizes := candidates(devices)
	if len(cands) == 0 {
		return nil, nil
	}
	v := view{snapshot: nvml.Snapshot{Devices: devices}, targets: set, plan: newPlan(set, sizes, new(atomic.Uint64))}
	v.placeAll(newCapacityClasses(v.plan), cands)
	placed = make([]PlacedTarget, len(v.placements))
	for i := range v.placements {
		placed[i] = PlacedTarget{Fit: v.plan.entries[i].fit, Now: v.now(i)}
	}
	return &v.plan.gpu, placed
}

// placeAll places every target of v's plan on cands, ranking them once per
// capacity class.
func (v *view) placeAll(classes *capacityClasses, cands []candidate) {
	rankings := classes.rankAll(cands)
	v.placements = make([]placement, len(v.plan.entries))
	for i := range v.plan.entries {
		e := &v.plan.entries[i]
		p := rankings[classes.class[i]].place(e)
		switch {
		case e.target.serving && len(p.devices) == e.gpus:
			// The engine's own start condition on the memory free now, and
			// its KV cache: the sequences of the full context it serves.
			a := v.plan.engine(e, p.budget)
			p.fits = e.fit.GPUsRequired > 0 && a.starts
			p.fitsWhenIdle = e.fit.GPUsRequired > 0
			p.kvTokens, p.concurrency, p.maxBatch = a.tokens, a.concurrency, int(a.concurrency)
		case e.target.batchKnown:
			p.maxBatch = v.plan.maxBatch(e, p.budget)
		}
		v.placements[i] = p
	}
	v.together = placeTogether(v.plan, cands)
}

// candidate is a device a target can be placed on: one that answers, and
// not a GPU split into MIG instances (its instances are the candidates).
type candidate struct {
	device int // index into the snapshot's devices
	size   int // index into the plan's sizes
	free   int64
	// whole marks a whole GPU of the host's model (the first size): the
	// only devices a multi-GPU target spans. Tensor parallelism cannot span
	// MIG instances, nor GPUs of different models.
	whole bool
}

// candidates returns the devices that can take a target, and their
// distinct sizes, most memory first.
func candidates(devices []nvml.Device) ([]candidate, []deviceSize) {
	var sizes []deviceSize
	for _, d := range devices {
		if placeable(d) {
			sizes = append(sizes, sizeOf(d))
		}
	}
	sizes = sortSizes(sizes)
	cands := make([]candidate, 0, len(devices))
	for i, d := range devices {
		if placeable(d) {
			size := slices.Index(sizes, sizeOf(d))
			cands = append(cands, candidate{device: i, size: size, free: toInt64(d.Memory.Free), whole: size == 0 && !d.IsMIG()})
		}
	}
	return cands, sizes
}

// placeable reports whether d can take a target: it is up, and it is not a
// GPU split into MIG instances (they hold its memory).
func placeable(d nvml.Device) bool {
	split := d.MIGMode == nvml.MIGEnabled && !d.IsMIG()
	return d.Err == nil && !split
}

// placement is a target placed on the devices that leave it the most
// headroom now.
type placement struct {
	fits, fitsWhenIdle bool
	// headroom is the smallest per-device headroom of the placement;
	// negative, it is the memory missing. A device the host lacks counts
	// as one with nothing free.
	headroom int64
	// budget is what each chosen device offers the target now (the least
	// of them), 0 when the host has too few devices.
	budget int64
	// devices are the chosen devices (indexes into the snapshot), most
	// room first; shared with the placements of the same ranking, so
	// read-only.
	devices []int
	// maxBatch is how many sequences of the target's context fit in the
	// budget; set only for targets whose batch the estimator can answer.
	maxBatch int
	// kvTokens and concurrency are a serving engine's KV cache tokens and
	// maximum concurrency on the memory free now; 0 for other targets.
	kvTokens    int64
	concurrency float64
}

// ranking is the candidates in the order a target of given capacities
// takes them: most memory offered now first, ties in device order. The
// targets of one memory cap share a ranking, made once per scrape. A
// single-GPU target may take any candidate, a MIG instance included; a
// multi-GPU one whole GPUs of the host's model only.
type ranking struct {
	any, whole pool
}

// pool is candidates ranked for a target.
type pool struct {
	devices []int   // indexes into the snapshot, best first
	now     []int64 // what each of devices offers now
	idle    []int64 // the candidates' capacities, largest first
}

type slot struct {
	device int
	bytes  int64
}

// rank orders cands for a target whose capacity on a device of each size
// is capacity. Now, a device offers the lesser of its free memory and its
// capacity (the target's memory cap applied to total minus reserved);
// when idle, its capacity.
func rank(capacity []int64, cands []candidate) *ranking {
	whole := slices.DeleteFunc(slices.Clone(cands), func(c candidate) bool { return !c.whole })
	return &ranking{any: rankPool(capacity, cands), whole: rankPool(capacity, whole)}
}

func rankPool(capacity []int64, cands []candidate) pool {
	now := make([]slot, len(cands))
	r := pool{devices: make([]int, len(cands)), now: make([]int64, len(cands)), idle: make([]int64, len(cands))}
	for i, c := range cands {
		now[i] = slot{device: c.device, bytes: min(c.free, capacity[c.size])}
		r.idle[i] = capacity[c.size]
	}
	slices.SortStableFunc(now, func(a, b slot) int { return cmp.Compare(b.bytes, a.bytes) })
	for i, s := range now {
		r.devices[i], r.now[i] = s.device, s.bytes
	}
	slices.Sort(r.idle)
	slices.Reverse(r.idle)
	return r
}

// place puts e's target on e.gpus of the ranked devices: any device for
// one GPU, whole GPUs of the host's model for more.
func (r *ranking) place(e *planEntry) placement {
	n, need := e.gpus, e.need()
	pool := &r.any
	if n > 1 {
		pool = &r.whole
	}
	var p placement
	if n > len(pool.devices) {
		p.headroom = -need
		p.devices = slices.Clip(pool.devices)
		return p
	}
	p.budget = pool.now[n-1]
	p.headroom = p.budget - need
	p.devices = pool.devices[:n:n]
	placed := e.fit.GPUsRequired > 0
	p.fits = placed && p.headroom >= 0
	p.fitsWhenIdle = placed && pool.idle[n-1] >= need
	return p
}

// capacityClasses groups a plan's entries by their capacities, so that a
// scrape ranks the devices once per memory cap rather than per target.
type capacityClasses struct {
	plan       *plan
	capacities [][]int64 // one per class
	class      []int     // the class of each entry
}

func newCapacityClasses(p *plan) *capacityClasses {
	c := &capacityClasses{plan: p, class: make([]int, len(p.entries))}
	classOf := map[string]int{}
	for i := range p.entries {
		capacity := p.entries[i].capacity
		key := fmt.Sprint(capacity)
		k, ok := classOf[key]
		if !ok {
			k = len(c.capacities)
			classOf[key] = k
			c.capacities = append(c.capacities, capacity)
		}
		c.class[i] = k
	}
	return c
}

// rankAll ranks cands for each class.
func (c *capacityClasses) rankAll(cands []candidate) []*ranking {
	rankings := make([]*ranking, len(c.capacities))
	for k, capacity := range c.capacities {
		rankings[k] = rank(capacity, cands)
	}
	return rankings
}
