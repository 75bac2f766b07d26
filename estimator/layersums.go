package estimator

import (
	"math"
	"slices"

	"github.com/vramfit/vramfit/estimator/model"
)

// layerSums are prefix sums over a model's decoder layers, computed once per
// estimation, so that a stage's KV cache and weights cost a few
// subtractions however many layers the model has: placement and the inverse
// questions evaluate them many times per target.
type layerSums struct {
	// windows are the distinct windows of the layers, 0 for those that hold
	// the whole context; kvHead and kvFixed are, per window, the prefix
	// sums of the values a token adds per KV head held (2·head_dim) and
	// regardless of heads (MLA's latent).
	windows         []int
	kvHead, kvFixed [][]float64
	// params, linear and experts are prefix sums of each layer's
	// parameters, linear weights and routed experts' weights.
	params, linear, experts []float64
	// mlpWidth is the widest layer's MLP width.
	mlpWidth int
}

func newLayerSums(layers []model.Layer) layerSums {
	var s layerSums
	for _, l := range layers {
		if !slices.Contains(s.windows, l.Window) {
			s.windows = append(s.windows, l.Window)
		}
	}
	n := len(layers) + 1
	s.kvHead, s.kvFixed = make([][]float64, len(s.windows)), make([][]float64, len(s.windows))
	for w := range s.windows {
		s.kvHead[w], s.kvFixed[w] = make([]float64, n), make([]float64, n)
	}
	s.params, s.linear, s.experts = make([]float64, n), make([]float64, n), make([]float64, n)
	for i, l := range layers {
		for w, window := range s.windows {
			s.kvHead[w][i+1], s.kvFixed[w][i+1] = s.kvHead[w][i], s.kvFixed[w][i]
			if window == l.Window {
				s.kvHead[w][i+1] += l.KVValues(1) - l.KVValues(0)
				s.kvFixed[w][i+1] += l.KVValues(0)
			}
		}
		var linear, experts float64
		for _, lin := range l.Linears {
			w := float64(lin.In) * float64(lin.Out) * float64(lin.Count)
			if lin.Count > 1 {
				experts += w
			} else {
				linear += w
			}
		}
		s.params[i+1] = s.params[i] + float64(l.Parameters)
		s.linear[i+1] = s.linear[i] + linear
		s.experts[i+1] = s.experts[i] + experts
		s.mlpWidth = max(s.mlpWidth, l.MLPWidth)
	}
	return s
}

// layers is the number of layers summed.
func (s layerSums) layers() int { return len(s.params) - 1 }

// stages calls f with the first and past-the-last layer of each pipeline
// stage of layout l (ceil(L/pp) consecutive layers each).
func (s layerSums) stages(l Layout, f func(start, end int)) {
	size := stageLayers(s.layers(), l.PipelineParallel)
	for start := 0; start < s.layers(); start += size {
		f(start, min(start+size, s.layers()))
	}
}

// kv is the values a token adds to the most loaded stage's cache on a GPU
// that holds kvHeads heads, each layer holding at most its window of a
// sequence of context tokens.
func (s layerSums) kv(l Layout, kvHeads float64, context int) float64 {
	var most float64
	s.stages(l, func(start, end int) {
		var sum float64
		for w, window := range s.windows {
			tokens := float64(context)
			if window > 0 && window < context {
				tokens = float64(window)
			}
			perToken := kvHeads*(s.kvHead[w][end]-s.kvHead[w][start]) + s.kvFixed[w][end] - s.kvFixed[w][start]
			sum += perToken * tokens
		}
		most = math.Max(most, sum)
	})
	return most
}

// heaviest returns the parameters, linear weights and experts' weights of
// the pipeline stage with the most parameters.
func (s layerSums) heaviest(l Layout) (params, linear, experts float64) {
	best := -1.0
	s.stages(l, func(start, end int) {
		if p := s.params[end] - s.params[start]; p > best {
			best = p
			params, linear, experts = p, s.linear[end]-s.linear[start], s.experts[end]-s.experts[start]
		}
	})
	return params, linear, experts
}

// longestHeld is the most tokens of a sequence any layer keeps: the
// context, or the widest window when every layer has a shorter one.
func (s layerSums) longestHeld(context int) int {
	most := 0
	for _, w := range s.windows {
		if w == 0 || w >= context {
			return context
		}
		most = max(most, w)
	}
	return most
}
