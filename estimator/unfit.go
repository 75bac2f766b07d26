package estimator

import (
	"fmt"
	"sort"
	"strings"
)

// unfitReason says why no GPU count fits: what each GPU still needs on the
// largest placement tried (floor), the part of it that more GPUs do not
// shrink, and the settings that would shrink it. pinned is true when the
// target's layout allows one count only.
func (e *Estimation) unfitReason(g GPU, usable int64, pinned bool, floor Layout, need Components) string {
	if usable <= 0 {
		return fmt.Sprintf("%s offers no usable memory", g.Name)
	}
	part := largestPart(need)
	var b strings.Builder
	if pinned {
		fmt.Fprintf(&b, "the target's layout sets %d GPUs (%s), and each %s would need %s of the %s usable; the largest part is %s, %s",
			floor.GPUs(), floor, g.Name, FormatGiB(need.Total), FormatGiB(usable), part.Name, FormatGiB(part.Bytes))
	} else {
		fmt.Fprintf(&b, "no number of %s fits: however many share the target, each needs at least %s of the %s usable "+
			"(on %d GPUs, %s), and its largest part, %s, %s, does not shrink further with more GPUs",
			g.Name, FormatGiB(need.Total), FormatGiB(usable), floor.GPUs(), floor, part.Name, FormatGiB(part.Bytes))
	}
	if help := e.remedies(part.Name); len(help) > 0 {
		fmt.Fprintf(&b, "; would help: %s", strings.Join(help, ", "))
	}
	return b.String()
}

// largestPart is the largest known component of c, total aside.
func largestPart(c Components) Part {
	parts := c.Parts()
	parts = parts[:len(parts)-1] // the parts, not their total
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Bytes > parts[j].Bytes })
	return parts[0]
}

// remedies are the settings that shrink part, in the words of the target's
// fields, leaving out what the target already does.
func (e *Estimation) remedies(part string) []string {
	in := e.in
	var out []string
	add := func(ok bool, s string) { out = appendIf(out, ok, s) }
	shorter := "a shorter context"
	smaller := "a smaller batch"
	switch part {
	case "activations":
		if in.workload == Inference {
			add(true, "a smaller max_batched_tokens")
			add(in.batch > 1, smaller)
			add(!in.flash, "flash_attention")
			break
		}
		add(in.recompute == RecomputeNone, "recompute: selective or full")
		add(in.recompute == RecomputeSelective, "recompute: full")
		add(!in.sequenceParallel, "sequence_parallel with tensor_parallel")
		add(!in.flash, "flash_attention")
		add(true, shorter)
		add(in.batch > 1, smaller)
	case "kv_cache":
		add(true, shorter)
		add(in.batch > 1, smaller)
		add(in.kv.Bits > 8, "kv_cache_dtype: fp8")
		out = append(out, e.openLayout()...)
	case "weights":
		add(in.workload.trains() && in.pinnedZeRO && in.zero < 3, "zero_stage: 3")
		add(in.workload.trains() && in.pinnedDP, "leaving data_parallel open")
		if in.workload == Inference {
			out = append(out, e.openLayout()...)
		}
		add(true, "a narrower precision")
		add(true, "offloading the weights to CPU memory")
	case "gradients", "optimizer":
		add(in.pinnedZeRO && in.zero < 3, "zero_stage: 3")
		add(in.pinnedDP, "leaving data_parallel open")
		add(part == "optimizer" && in.optStates.Bits > 8, "optimizer_dtype: int8")
		add(true, "offloading the optimizer states to CPU memory")
	case "overhead":
		add(true, "a smaller overhead")
	}
	return out
}

// openLayout suggests leaving open the inference layout fields the target
// sets, so that placement may spread it further.
func (e *Estimation) openLayout() []string {
	return appendIf(appendIf(nil, e.in.pinnedTP, "leaving tensor_parallel open"), e.in.pinnedPP, "leaving pipeline_parallel open")
}

// appendIf appends s to list when ok.
func appendIf(list []string, ok bool, s string) []string {
	if ok {
		return append(list, s)
	}
	return list
}
