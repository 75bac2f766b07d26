package collector

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/engine"
)

// A vLLM target at TP2 that does not say whether its GPUs share NVLink
// takes the answer of the host's GPUs: the NVLink figure of non-torch
// memory on a DGX H100 (NVSwitch), the PCIe one on two RTX 4090s. A target
// that says wins on either host.
func TestCollectNVLinkFromTheGPUs(t *testing.T) {
	p, ok := engine.LookupProfile("vllm-v1-0.18")
	require.True(t, ok)
	extra := float64(int64(p.NonTorch.NVLink*engine.GiB) - int64(p.NonTorch.PCIe*engine.GiB))
	require.Positive(t, extra)
	for _, tc := range []struct {
		fleet  string
		nvlink bool
	}{{"dgx-h100", true}, {"rtx4090x2", false}} {
		t.Run(tc.fleet, func(t *testing.T) {
			c, _ := newTestCollector(t, openFleet(t, tc.fleet), "testdata/nvlink.yml")
			got := gaugeValues(t, c)
			overhead := func(target string) float64 {
				v, ok := got["vramfit_target_required_bytes/overhead,"+target]
				require.True(t, ok, target)
				return v
			}
			assert.Equal(t, extra, overhead("tp2-nvlink")-overhead("tp2-pcie"), "the target's own field wins")
			want := overhead("tp2-pcie")
			if tc.nvlink {
				want = overhead("tp2-nvlink")
			}
			assert.Equal(t, want, overhead("tp2"))
			for _, target := range []string{"tp2", "tp2-pcie", "tp2-nvlink"} {
				assert.Equal(t, 2.0, got["vramfit_target_gpus_required/"+target], target)
			}
			assert.Less(t, got["vramfit_target_kv_cache_tokens/tp2-nvlink"], got["vramfit_target_kv_cache_tokens/tp2-pcie"])
		})
	}
}
