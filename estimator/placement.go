package estimator

import "fmt"

// MaxGPUs bounds the GPU counts placement considers: a search for a count
// stops there, and a layout the target pins may not exceed it.
const MaxGPUs = 4096

// Fit is a target placed on GPUs of one kind.
type Fit struct {
	GPU GPU `json:"gpu"`
	// Usable is the memory each GPU offers the target (Usable(total, 0)).
	Usable int64 `json:"usable_bytes"`
	// GPUsRequired is the smallest count whose per-GPU share fits, 0 when
	// no count does (UnfitReason says why).
	GPUsRequired int `json:"gpus_required"`
	// Layout and PerGPU describe that placement; when nothing fits, the
	// target's own layout (UnfitReason names the part that does not shrink).
	Layout Layout     `json:"layout"`
	PerGPU Components `json:"per_gpu_bytes"`
	// Chosen names the layout fields the target leaves open and placement
	// set (tensor_parallel, pipeline_parallel, data_parallel, zero_stage).
	Chosen []string `json:"chosen,omitempty"`
	// Replicas is how many copies of an inference target fit on one GPU
	// when one GPU suffices (0 otherwise).
	Replicas    int    `json:"replicas_per_gpu"`
	UnfitReason string `json:"unfit_reason,omitempty"`
}

// PerGPU is the per-GPU need on n GPUs. What the target sets is kept (its
// data_parallel replicas count among the n GPUs; ZeRO stage 0 is plain DDP),
// and what it leaves open is chosen the way a user would: inference by
// tensor parallelism up to one 8-GPU board (degrees that divide the
// attention heads), then pipeline stages; training by fully sharded data
// parallelism (ZeRO-3/FSDP) on top of the target's tensor and pipeline
// parallelism. n must suit what the target sets.
func (e *Estimation) PerGPU(gpus int) (Components, error) {
	l, err := e.layoutFor(gpus)
	if err != nil {
		return Components{}, err
	}
	return e.components(l, e.in.batch, e.in.context), nil
}

// LayoutFor is the layout PerGPU uses on n GPUs.
func (e *Estimation) LayoutFor(gpus int) (Layout, error) { return e.layoutFor(gpus) }

func (e *Estimation) layoutFor(n int) (Layout, error) {
	if n < 1 || n > MaxGPUs {
		return Layout{}, fmt.Errorf("gpu count %d: want 1 to %d", n, MaxGPUs)
	}
	switch {
	case e.in.method == RuleOfThumb:
		return Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: n, ZeROStage: 3}, nil
	case e.in.workload == Inference:
		return e.inferenceLayout(n)
	}
	return e.trainingLayout(n)
}

// inferenceLayout spreads the target's replicas (its data_parallel, kept)
// over n GPUs, each replica on n/replicas of them.
func (e *Estimation) inferenceLayout(n int) (Layout, error) {
	r := e.in.dp
	if n%r != 0 {
		return Layout{}, fmt.Errorf("%d GPUs do not hold the target's %d replicas (data_parallel) evenly", n, r)
	}
	l, err := e.replicaLayout(n / r)
	l.DataParallel = r
	return l, err
}

// replicaLayout is the tensor- and pipeline-parallel layout of one inference
// replica on n GPUs.
func (e *Estimation) replicaLayout(n int) (Layout, error) {
	in, m := e.in, e.model
	var tp, pp int
	switch {
	case in.pinnedTP && in.pinnedPP:
		if n != in.tp*in.pp {
			return Layout{}, fmt.Errorf("the target pins tensor_parallel %d and pipeline_parallel %d: it runs on %d GPUs, not %d",
				in.tp, in.pp, in.tp*in.pp, n)
		}
		tp, pp = in.tp, in.pp
	case in.pinnedTP:
		if n%in.tp != 0 {
			return Layout{}, fmt.Errorf("%d GPUs is not a multiple of the target's tensor_parallel %d", n, in.tp)
		}
		tp, pp = in.tp, n/in.tp
	case in.pinnedPP:
		if n%in.pp != 0 || !validTensorParallel(n/in.pp, m) {
			return Layout{}, fmt.Errorf("%d GPUs in the target's %d pipeline stages leave a tensor-parallel degree that does not divide the heads", n, in.pp)
		}
		tp, pp = n/in.pp, in.pp
	default:
		tp = 1
		for t := min(n, maxTensorParallel); t > 1; t-- {
			if n%t == 0 && validTensorParallel(t, m) {
				tp = t
				break
			}
		}
		pp = n / tp
	}
	if m.KnownArchitecture && pp > m.Layers {
		return Layout{}, fmt.Errorf("%d GPUs need %d pipeline stages, more than the model's %d layers", n, pp, m.Layers)
	}
	return Layout{TensorParallel: tp, PipelineParallel: pp, DataParallel: 1, ZeROStage: 0}, nil
}

// trainingLayout keeps the target's tensor and pipeline parallelism, and its
// data_parallel and zero_stage when set; left open, the data-parallel degree
// is n / (tp × pp) and its ZeRO stage 3.
func (e *Estimation) trainingLayout(n int) (Layout, error) {
	in := e.in
	base := in.tp * in.pp
	if n%base != 0 {
		return Layout{}, fmt.Errorf("%d GPUs is not a multiple of the target's tensor_parallel × pipeline_parallel = %d", n, base)
	}
	dp := n / base
	if in.pinnedDP && dp != in.dp {
		return Layout{}, fmt.Errorf("the target sets data_parallel %d: it runs on %d GPUs, not %d", in.dp, base*in.dp, n)
	}
	zero := in.zero
	if !in.pinnedZeRO && dp > 1 {
		zero = 3
	}
	return Layout{TensorParallel: in.tp, PipelineParallel: in.pp, DataParallel: dp, ZeROStage: zero}, nil
}

// chosen lists the fields of l that the target leaves open.
func (e *Estimation) chosen(l Layout) []string {
	in := e.in
	if in.workload == Inference {
		return appendIf(appendIf(nil, !in.pinnedTP, "tensor_parallel"), !in.pinnedPP, "pipeline_parallel")
	}
	return appendIf(appendIf(nil, !in.pinnedDP, "data_parallel"), !in.pinnedZeRO && l.DataParallel > 1, "zero_stage")
}

// layoutSet reports whether the target sets every layout field placement
// could choose: it runs on one count of GPUs only.
func (e *Estimation) layoutSet() bool {
	if e.in.workload == Inference {
		return e.in.pinnedTP && e.in.pinnedPP
	}
	return e.in.pinnedDP
}

// ForGPU places the target on GPUs of kind g: the smallest count whose
// per-GPU need fits in the usable memory, or, for a serving engine, on
// which the engine would start on idle GPUs.
func (e *Estimation) ForGPU(g GPU) Fit {
	if e.in.method == RuleOfThumb {
		return e.ruleOfThumbFit(g)
	}
	usable := e.Usable(g.MemoryBytes, 0)
	fits := func(n int) (Layout, Components, bool) {
		l, err := e.layoutFor(n)
		if err != nil {
			return Layout{}, Components{}, false
		}
		if e.Serves() && e.model.KnownArchitecture {
			r, err := e.ServingEngine(l, IdleGPU(g))
			return l, engineComponents(r), err == nil && r.Starts
		}
		c := e.components(l, e.in.batch, e.in.context)
		return l, c, c.Total <= usable
	}
	fit := Fit{GPU: g, Usable: usable}
	counts := e.candidateCounts()
	if n, ok := counts.smallest(func(n int) bool { _, _, ok := fits(n); return ok }); ok {
		fit.GPUsRequired = n
		fit.Layout, fit.PerGPU, _ = fits(n)
		fit.Chosen = e.chosen(fit.Layout)
		if n == 1 && fit.PerGPU.Total > 0 && e.in.workload == Inference {
			fit.Replicas = int(usable / fit.PerGPU.Total)
			if e.Serves() {
				fit.Replicas = 1 // the engine takes its share of the GPU
			}
		}
		return fit
	}
	// Nothing fits: the components shown are those of the target's own
	// layout, a real one, and the reason is read off the largest placement
	// tried, where only the parts that do not shrink are left.
	fit.Layout, fit.PerGPU = e.own, e.ownNeed
	floor, floorNeed, _ := fits(e.largestPlaceable(counts))
	fit.UnfitReason = e.unfitReason(g, usable, e.layoutSet(), floor, floorNeed)
	if e.Serves() && e.model.KnownArchitecture {
		if r, err := e.ServingEngine(floor, IdleGPU(g)); err != nil {
			fit.UnfitReason = err.Error()
		} else {
			fit.UnfitReason = fmt.Sprintf("%s does not start on any number of %s: even on %d GPUs (%s), %s", e.in.engine, g.Name, floor.GPUs(), floor, r.Reason)
		}
	}
	return fit
}

// countRange is the GPU counts placement tries, the multiples of step up to
// last: each in turn when the need is not monotone in the count, else by
// bisection, where more GPUs never need more per GPU.
type countRange struct {
	step, last int
	monotone   bool
}

func (e *Estimation) candidateCounts() countRange {
	in := e.in
	if in.workload != Inference {
		base := in.tp * in.pp
		if in.pinnedDP {
			return countRange{step: base * in.dp, last: base * in.dp, monotone: true}
		}
		return countRange{step: base, last: MaxGPUs / base * base, monotone: true}
	}
	// Inference: the counts for one replica, times the replicas the
	// target sets, up to MaxGPUs.
	r := e.replicaCounts()
	r.step *= in.dp
	r.last = min(r.last*in.dp, MaxGPUs/r.step*r.step)
	return r
}

// replicaCounts is the GPU counts one inference replica may take.
func (e *Estimation) replicaCounts() countRange {
	in, m := e.in, e.model
	if !m.KnownArchitecture {
		// Only the weights are known, and they shrink with every GPU; the
		// counts are the multiples of whatever the target pins.
		step := 1
		if in.pinnedTP {
			step *= in.tp
		}
		if in.pinnedPP {
			step *= in.pp
		}
		if in.pinnedTP && in.pinnedPP {
			return countRange{step: step, last: step, monotone: true} // the one count it runs on
		}
		return countRange{step: step, last: MaxGPUs / step * step, monotone: true}
	}
	// Known shapes: the best layout changes with the count (6 GPUs are
	// TP2×PP3 for 32 heads), so every count up to the most stages is
	// tried.
	tp := maxTensorParallel
	if in.pinnedTP {
		tp = in.tp
	}
	if in.pinnedPP {
		return countRange{step: 1, last: tp * in.pp}
	}
	return countRange{step: 1, last: tp * m.Layers}
}

// smallest returns the first count that fits.
func (r countRange) smallest(fits func(int) bool) (int, bool) {
	if !r.monotone {
		for n := r.step; n <= r.last; n += r.step {
			if fits(n) {
				return n, true
			}
		}
		return 0, false
	}
	// One step is tried on its own: ZeRO-3 adds its gathered layer only
	// from two data-parallel GPUs on, so the need is monotone from there.
	if fits(r.step) {
		return r.step, true
	}
	lo, hi := 2, r.last/r.step // multiples of step
	if hi < lo || !fits(hi*r.step) {
		return 0, false
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fits(mid * r.step) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo * r.step, true
}

// largestPlaceable is the largest count of r the target has a layout for:
// the placement an unfit target reports. r's last count may have none: 96
// GPUs for GPT-2's 12 heads are TP 6 × 16 stages, more than its 12 layers.
func (e *Estimation) largestPlaceable(r countRange) int {
	for n := r.last; n > r.step; n -= r.step {
		if _, err := e.layoutFor(n); err == nil {
			return n
		}
	}
	return r.step
}

// String writes a layout as its non-trivial degrees.
func (l Layout) String() string {
	s := fmt.Sprintf("tensor_parallel %d, pipeline_parallel %d", l.TensorParallel, l.PipelineParallel)
	if l.DataParallel > 1 {
		s += fmt.Sprintf(", data_parallel %d", l.DataParallel)
		// Inference replicas shard nothing: a stage is said only where
		// data parallelism shards.
		if l.ZeROStage > 0 {
			s += fmt.Sprintf(" with ZeRO stage %d", l.ZeROStage)
		}
	}
	return s
}

// MaxBatch is the largest batch (concurrent sequences of the target's
// context; for training, the micro-batch) whose need on n GPUs fits in
// perGPUBytes. It is 0 when batch 1 does not fit, or when the need does not
// depend on the batch in a way this estimate knows (a bare parameter count,
// the rule-of-thumb method).
func (e *Estimation) MaxBatch(perGPUBytes int64, gpus int) int {
	return e.largestFitting(perGPUBytes, gpus, MaxBatch, func(l Layout, b int) Components {
		return e.components(l, b, e.in.context)
	})
}

// MaxContext is the longest context that fits in perGPUBytes on n GPUs at
// the target's batch, on the same terms as MaxBatch, and never beyond the
// model's limit unless the target allows a long context.
func (e *Estimation) MaxContext(perGPUBytes int64, gpus int) int {
	limit := MaxContext
	if m := e.model.MaxPositionEmbeddings; m > 0 && !e.target.AllowLongContext {
		limit = min(limit, m)
	}
	return e.largestFitting(perGPUBytes, gpus, limit, func(l Layout, s int) Components {
		return e.components(l, e.in.batch, s)
	})
}

func (e *Estimation) largestFitting(budget int64, gpus, limit int, need func(Layout, int) Components) int {
	if e.in.method == RuleOfThumb || !e.model.KnownArchitecture {
		return 0
	}
	l, err := e.layoutFor(gpus)
	if err != nil {
		return 0
	}
	fits := func(x int) bool { return need(l, x).Total <= budget }
	if !fits(1) {
		return 0
	}
	lo, hi := 1, limit
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// FormatGiB writes a byte count in GiB with two decimals, the unit
// nvidia-smi users read.
func FormatGiB(b int64) string {
	return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
}
