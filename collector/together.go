package collector

import (
	"cmp"
	"slices"
)

// together answers whether all the targets can run on the host at once,
// which the per-target verdicts do not: each of them is judged alone, as if
// the host had nothing else to run (four targets can each "fit now" on the
// same two GPUs).
type together struct {
	fits, fitsWhenIdle bool
	// left are the targets (indexes into the plan) the joint placement
	// found no room for in the memory free now, in file order.
	left []int
}

// placeTogether places every target of the plan on the devices in turn,
// the largest need first, each on the devices with the most memory left
// (whole GPUs of the host's model for a multi-GPU target, as alone), and
// takes its need off them. It is first-fit decreasing: when it finds a
// joint placement there is one; in rare packings it can miss one that
// exists. A target no count of GPUs fits cannot be placed.
func placeTogether(p *plan, cands []candidate) together {
	now := func(c candidate) int64 { return c.free }
	idle := func(c candidate) int64 { return toInt64(p.sizes[c.size].offered()) }
	left := packAll(p, cands, now)
	return together{fits: len(left) == 0, fitsWhenIdle: len(packAll(p, cands, idle)) == 0, left: left}
}

// packAll packs the plan's targets on cands, each device starting with
// start(device) bytes, and returns the targets that found no room.
func packAll(p *plan, cands []candidate, start func(candidate) int64) []int {
	room := make([]int64, len(cands))
	for j, c := range cands {
		room[j] = start(c)
	}
	var left []int
	for _, i := range p.packOrder {
		if !pack(&p.entries[i], cands, room) {
			left = append(left, i)
		}
	}
	slices.Sort(left)
	return left
}

// packOrder is the order in which the plan's targets are packed: the
// largest total need first, ties in file order. It depends on the plan
// alone, so newPlan computes it once.
func packOrder(entries []planEntry) []int {
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	total := func(i int) int64 { e := &entries[i]; return e.need() * int64(e.gpus) }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(total(b), total(a)) })
	return order
}

// pack puts e on the e.gpus devices with the most room that can take it
// (room at least its need, within its memory cap on the device), and takes
// its need off their room; false, and room untouched, when too few can.
func pack(e *planEntry, cands []candidate, room []int64) bool {
	if e.fit.GPUsRequired == 0 {
		return false
	}
	need := e.need()
	var fit []int
	for j, c := range cands {
		if (e.gpus == 1 || c.whole) && room[j] >= need && e.capacity[c.size] >= need {
			fit = append(fit, j)
		}
	}
	if len(fit) < e.gpus {
		return false
	}
	slices.SortStableFunc(fit, func(a, b int) int { return cmp.Compare(room[b], room[a]) })
	for _, j := range fit[:e.gpus] {
		room[j] -= need
	}
	return true
}

// names are the names of the targets at indexes.
func (t *Targets) names(indexes []int) []string {
	out := make([]string, len(indexes))
	for i, j := range indexes {
		out[i] = t.targets[j].name
	}
	return out
}
