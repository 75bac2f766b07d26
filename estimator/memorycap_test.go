package estimator

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// Usable, ForGPU and Assumptions read the memory cap from one place, so a
// target's verdict on idle GPUs (the exporter's fits_when_idle, built on
// Usable) agrees with its gpus_required (built on ForGPU). A rule-of-thumb
// target once got vLLM's 0.90 cap from Usable while ForGPU and Assumptions
// used the whole GPU: 7B in INT8 on 24 GB had Usable 21.6e9 and a fit on 24e9.
func TestMemoryCapAgrees(t *testing.T) {
	t.Parallel()
	const gpuBytes = 24e9 // the seed's 24 GB card
	tests := []struct {
		name    string
		target  Target
		wantCap float64
	}{
		{"rule-of-thumb inference", Target{Method: RuleOfThumb, Workload: Inference, Precision: "int8"}, 1},
		{"rule-of-thumb training", Target{Method: RuleOfThumb, Workload: Training}, 1},
		{"rule-of-thumb with a cap set", Target{Method: RuleOfThumb, Workload: Inference, MemoryUtilization: 0.5}, 1},
		{"detailed inference", Target{Workload: Inference}, DefaultInferenceUtilization},
		{"detailed training", Target{Workload: Training}, DefaultTrainingUtilization},
		{"detailed with a cap set", Target{Workload: Inference, MemoryUtilization: 0.75}, 0.75},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target
			target.Name, target.Model = "7b", model.ModelSource{Parameters: 7e9}
			e, err := Estimate(target)
			require.NoError(t, err)
			want := int64(math.Floor(gpuBytes * tc.wantCap))
			assert.Equal(t, tc.wantCap, e.Assumptions(nil).MemoryUtilization)
			assert.Equal(t, want, e.Usable(gpuBytes, 0))
			fit := e.ForGPU(GPU{Name: "24GB", MemoryBytes: gpuBytes})
			assert.Equal(t, want, fit.Usable)
			if fit.GPUsRequired > 0 && target.Method != RuleOfThumb {
				assert.LessOrEqual(t, fit.PerGPU.Total, e.Usable(gpuBytes, 0), "the count found fits the usable memory")
			}
		})
	}
}

// The seed's worked example through Usable: a 7 GB INT8 model runs 3 times
// on one 24 GB card, on the card's whole memory.
func TestRuleOfThumbUsesTheWholeGPU(t *testing.T) {
	t.Parallel()
	e, err := Estimate(Target{Name: "7b", Model: model.ModelSource{Parameters: 7e9}, Method: RuleOfThumb, Precision: "int8"})
	require.NoError(t, err)
	usable := e.Usable(24e9, 0)
	assert.Equal(t, int64(24e9), usable)
	assert.Equal(t, int64(3), usable/e.Requirement().Total)
	assert.Empty(t, warningsMatching(e, "memory_utilization"))

	capped, err := Estimate(Target{Name: "7b", Model: model.ModelSource{Parameters: 7e9}, Method: RuleOfThumb, Precision: "int8",
		MemoryUtilization: 0.5})
	require.NoError(t, err)
	assert.Equal(t, []string{"memory_utilization 0.5 is ignored: the rule-of-thumb method uses the whole GPU"},
		warningsMatching(capped, "memory_utilization"))
}

func warningsMatching(e *Estimation, word string) []string {
	var out []string
	for _, w := range e.Warnings() {
		if strings.Contains(w, word) {
			out = append(out, w)
		}
	}
	return out
}
