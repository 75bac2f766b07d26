package estimator_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/targetsfile"
)

// A parsed target is estimated once: Estimate returns the parser's
// estimation while the target is unchanged, and estimates anew after a
// caller changes it.
func TestParsedTargetEstimatedOnce(t *testing.T) {
	t.Parallel()
	targets, err := targetsfile.Parse([]byte("targets:\n  - {name: a, model: {preset: llama-3-8b}, context: 2048}\n"), "t.yml")
	require.NoError(t, err)
	require.NotNil(t, estimator.ParserEstimation(targets[0]), "the parser keeps the model it resolved")
	first, err := estimator.Estimate(targets[0])
	require.NoError(t, err)
	again, err := estimator.Estimate(targets[0])
	require.NoError(t, err)
	assert.Same(t, first, again)
	assert.Same(t, estimator.ParserEstimation(targets[0]), first, "the parser's own estimation")

	changed := targets[0]
	changed.Method = estimator.RuleOfThumb
	other, err := estimator.Estimate(changed)
	require.NoError(t, err)
	assert.NotSame(t, first, other)
	assert.Equal(t, estimator.RuleOfThumb, other.Method())
}
