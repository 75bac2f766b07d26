//go:build !(linux && cgo)

package nvml

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without cgo there is no real backend: it says so and how to get one,
// and never fails Open, so that the exporter keeps serving.
func TestRealBackendWithoutCgo(t *testing.T) {
	b, err := Open(Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Snapshot(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "CGO_ENABLED=1")
}
