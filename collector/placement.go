package collector

import (
	"cmp"
	"slices"

	"github.com/vramfit/vramfit/nvml"
)

// candidate is a device a target can be placed on: one that answers, and
// not a GPU split into MIG instances (its instances are the candidates).
type candidate struct {
	device int // index into the snapshot's devices
	size   int // index into the plan's sizes
	free   int64
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
			cands = append(cands, candidate{device: i, size: slices.Index(sizes, sizeOf(d)), free: toInt64(d.Memory.Free)})
		}
	}
	return cands, sizes
}

func placeable(d nvml.Device) bool {
	return d.Err == nil && !(d.MIGMode == nvml.MIGEnabled && !d.IsMIG())
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
	// room first.
	devices []int
	// maxBatch is how many sequences of the target's context fit in the
	// budget; set only for targets whose batch the estimator can answer.
	maxBatch int
}

type slot struct {
	device int
	bytes  int64
}

// place puts e's target on e.gpus of cands. Now, a device offers the
// lesser of its free memory and its capacity (the target's memory cap
// applied to total minus reserved); when idle, its capacity.
func place(e *planEntry, cands []candidate) placement {
	now := make([]slot, len(cands))
	idle := make([]int64, len(cands))
	for i, c := range cands {
		capacity := e.capacity[c.size]
		now[i] = slot{device: c.device, bytes: min(c.free, capacity)}
		idle[i] = capacity
	}
	slices.SortStableFunc(now, func(a, b slot) int { return cmp.Compare(b.bytes, a.bytes) })
	slices.Sort(idle)
	slices.Reverse(idle)

	n, need := e.gpus, e.need()
	var p placement
	if n > len(now) {
		p.headroom = -need
		for _, s := range now {
			p.devices = append(p.devices, s.device)
		}
		return p
	}
	p.budget = now[n-1].bytes
	p.headroom = p.budget - need
	p.devices = make([]int, n)
	for i, s := range now[:n] {
		p.devices[i] = s.device
	}
	placed := e.fit.GPUsRequired > 0
	p.fits = placed && p.headroom >= 0
	p.fitsWhenIdle = placed && idle[n-1] >= need
	return p
}
