package collector

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A target that sets its whole layout needs the same bytes with and
// without NVML: its requirement is that layout's either way, not the
// smallest count the host's GPUs would take.
func TestRequiredBytesDoNotJumpWithoutNVML(t *testing.T) {
	path := writeTargets(t, "targets:\n  - {name: zero3, model: {preset: llama-3-8b}, workload: training, data_parallel: 8, zero_stage: 3}\n")
	up, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	down, _ := newTestCollector(t, fleetFrom(t, "gpus: [{board: h100-sxm5-80gb}]\nfaults: {unavailable: \"no library\"}\n"), path)
	withNVML, withoutNVML := gaugeValues(t, up), gaugeValues(t, down)
	require.Contains(t, withNVML, "vramfit_target_gpus_required/zero3")
	assert.Equal(t, 8.0, withNVML["vramfit_target_gpus_required/zero3"])
	require.Positive(t, withNVML["vramfit_target_required_bytes/total,zero3"])
	for _, part := range []string{"weights", "gradients", "optimizer", "total"} {
		key := "vramfit_target_required_bytes/" + part + ",zero3"
		assert.Equal(t, withoutNVML[key], withNVML[key], key)
	}
}
