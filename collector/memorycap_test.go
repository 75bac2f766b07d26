package collector

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
)

// A rule-of-thumb target is placed on the whole GPU, as its gpus_required
// is counted: fits_when_idle cannot say 0 where gpus_required says one idle
// GPU takes it. 20.4e9 parameters in FP32 are 81.6e9 bytes, 96% of what an
// H100 of testdata/fleets/two-h100.yml offers (81047 MiB): above vLLM's
// 0.90 cap, within the whole GPU.
func TestRuleOfThumbFitsWhenIdleAgreesWithGPUsRequired(t *testing.T) {
	path := writeTargets(t, `targets:
  - {name: seed, model: {parameters: 20.4e9}, method: rule-of-thumb, workload: inference, precision: fp32}
`)
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	fit := estimationOf(t, store, "seed").ForGPU(estimator.GPU{Name: h100Name, MemoryBytes: h100Offered})
	require.Equal(t, 1, fit.GPUsRequired)
	require.Greater(t, fit.PerGPU.Total, capped(h100Offered, estimator.DefaultInferenceUtilization))
	require.LessOrEqual(t, fit.PerGPU.Total, int64(h100Offered))

	got := gaugeValues(t, c)
	assert.Equal(t, 1.0, got["vramfit_target_gpus_required/seed"])
	assert.Equal(t, 1.0, got["vramfit_target_fits_when_idle/seed"])
	assert.Equal(t, 1.0, got["vramfit_target_fits/seed"], "GPU 1 is idle")
	assert.Equal(t, float64(h100Offered-fit.PerGPU.Total), got["vramfit_target_headroom_bytes/seed"])
}
