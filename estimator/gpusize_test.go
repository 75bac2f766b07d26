package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --gpu takes every size in the one grammar of package bytesize (its tests
// hold the grammar), fractions included: an engine logs a GPU's total as
// 79.19GiB. (targetsfile's TestOverheadUsesTheOneGrammar has a target's
// overhead.)
func TestSizesUseTheOneGrammar(t *testing.T) {
	t.Parallel()
	g, err := LookupGPU("79.19GiB")
	require.NoError(t, err)
	assert.Equal(t, GPU{Name: "79.19GiB", MemoryBytes: 85029615043}, g, "79.19 × 2^30 bytes, rounded up")

}
