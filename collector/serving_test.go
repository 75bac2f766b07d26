package collector

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator"
)

// A serving engine's target fits when the engine would start on the memory
// free now, and exports the KV cache tokens and concurrency the engine
// would allocate and log there; the status API shows the same.
func TestCollectServingEngine(t *testing.T) {
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), "testdata/serving.yml")
	got := gaugeValues(t, c)

	small := estimationOf(t, store, "vllm-8b")
	idle := estimator.EngineGPU{Name: h100Name, TotalBytes: h100Total, ReservedBytes: h100Reserved, FreeBytes: h100Offered}
	r, err := small.ServingEngine(small.ForGPU(estimator.GPU{Name: h100Name, MemoryBytes: h100Offered}).Layout, idle)
	require.NoError(t, err)
	require.True(t, r.Starts)
	assert.Equal(t, 1.0, got["vramfit_target_fits/vllm-8b"])
	assert.Equal(t, float64(r.KVCacheTokens), got["vramfit_target_kv_cache_tokens/vllm-8b"])
	assert.Equal(t, r.MaxConcurrency, got["vramfit_target_max_concurrency/vllm-8b"])
	assert.Equal(t, float64(int(r.MaxConcurrency)), got["vramfit_target_max_batch/vllm-8b"])

	big := estimationOf(t, store, "vllm-70b-tp2")
	busy := idle
	busy.FreeBytes = gpu0Free
	r, err = big.ServingEngine(big.Requirement().Layout, busy)
	require.NoError(t, err)
	require.False(t, r.Starts, "the case rests on vLLM refusing GPU 0's free memory")
	assert.Equal(t, 0.0, got["vramfit_target_fits/vllm-70b-tp2"])
	assert.Equal(t, 1.0, got["vramfit_target_fits_when_idle/vllm-70b-tp2"])
	assert.Equal(t, 2.0, got["vramfit_target_gpus_required/vllm-70b-tp2"])

	resp := c.targetsResponse(c.look())
	require.Len(t, resp.Targets, 2)
	now := resp.Targets[0].Now
	require.NotNil(t, now.KVCacheTokens)
	assert.Equal(t, int64(got["vramfit_target_kv_cache_tokens/vllm-8b"]), *now.KVCacheTokens)
	assert.Equal(t, got["vramfit_target_max_concurrency/vllm-8b"], *now.MaxConcurrency)
	assert.Equal(t, estimator.EngineVLLM, resp.Targets[0].Engine)
	assert.Positive(t, resp.Targets[0].KVCacheTokens, "the report for the host's GPU model, idle")
}

// A target without a serving engine has neither figure.
func TestCollectWithoutServingEngine(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	for key := range gaugeValues(t, c) {
		assert.NotContains(t, key, "kv_cache_tokens")
		assert.NotContains(t, key, "max_concurrency")
	}
	for _, tg := range c.targetsResponse(c.look()).Targets {
		assert.Nil(t, tg.Now.KVCacheTokens, tg.Target)
		assert.Nil(t, tg.Now.MaxConcurrency, tg.Target)
	}
}
