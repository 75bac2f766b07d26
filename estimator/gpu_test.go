package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGPUCatalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		bytes int64
	}{
		// NVML's total as printed by nvidia-smi, in MiB (sources in gpu.go).
		{"h100-80gb", 85520809984}, // 81559 MiB; modal-labs/modal-client PR #2797 quotes 85520809984 bytes
		{"a100-80gb", 81920 << 20},
		{"a100-40gb", 40960 << 20},
		{"h200-141gb", 143771 << 20},
		{"b200-192gb", 183359 << 20},
		{"rtx-4090-24gb", 24564 << 20},
		{"l40s-48gb", 46068 << 20},
		{"l4-24gb", 23034 << 20},
		{"v100-16gb", 16160 << 20},
		{"v100-32gb", 32480 << 20},
		// Aliases.
		{"h100", 85520809984}, {"H100-80GB", 85520809984}, {"4090", 24564 << 20},
	}
	for _, tc := range tests {
		g, err := LookupGPU(tc.name)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.bytes, g.MemoryBytes, tc.name)
	}
	names := map[string]bool{}
	for _, g := range GPUs() {
		assert.False(t, names[g.Name], "duplicate %s", g.Name)
		names[g.Name] = true
		assert.Positive(t, g.MemoryBytes)
	}
}

func TestLookupGPUSize(t *testing.T) {
	t.Parallel()
	g, err := LookupGPU("80GiB")
	require.NoError(t, err)
	assert.Equal(t, GPU{Name: "80GiB", MemoryBytes: 85899345920}, g)
	g, err = LookupGPU("141GB")
	require.NoError(t, err)
	assert.Equal(t, int64(141e9), g.MemoryBytes)
	g, err = LookupGPU("79.19GiB") // a total as an engine logs it
	require.NoError(t, err)
	assert.Equal(t, GPU{Name: "79.19GiB", MemoryBytes: 85029615043}, g) // 79.19 × 2^30 rounded up
	_, err = LookupGPU("80")
	assert.ErrorContains(t, err, `gpu size "80" is 80 bytes; want at least 1GiB`)
	// A family of several sizes is not a GPU: each size is named.
	_, err = LookupGPU("a100")
	assert.EqualError(t, err, `gpu "a100" names several catalog GPUs of different memory; name one: a100-40gb, a100-80gb`)
	_, err = LookupGPU("V100")
	assert.EqualError(t, err, `gpu "V100" names several catalog GPUs of different memory; name one: v100-16gb, v100-32gb`)
	assert.Equal(t, []string{"h100", "h100-sxm", "h100-sxm-80gb"}, GPUAliases("h100-80gb"))
	assert.Empty(t, GPUAliases("a100-80gb"))
	_, err = LookupGPU("h900")
	assert.ErrorContains(t, err, `gpu "h900" is neither a catalog name (t4-16gb, `)
}
