package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --gpu and a target's overhead take every size in the one grammar of
// package bytesize (its tests hold the grammar), fractions included: an
// engine logs a GPU's total as 79.19GiB.
func TestSizesUseTheOneGrammar(t *testing.T) {
	t.Parallel()
	g, err := LookupGPU("79.19GiB")
	require.NoError(t, err)
	assert.Equal(t, GPU{Name: "79.19GiB", MemoryBytes: 85029615043}, g, "79.19 × 2^30 bytes, rounded up")

	targets, err := ParseTargets([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    overhead: 0.5GiB\n  - name: b\n    model: {preset: gpt2}\n    overhead: 1.0000000001KiB\n"), "t.yml")
	require.NoError(t, err)
	require.Len(t, targets, 2)
	require.NotNil(t, targets[0].Overhead)
	assert.Equal(t, int64(1<<29), *targets[0].Overhead)
	require.NotNil(t, targets[1].Overhead)
	assert.Equal(t, int64(1025), *targets[1].Overhead)
}
