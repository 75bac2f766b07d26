//go:build unix

package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A config.json whose size cannot be known beforehand (a device, a pipe)
// is read up to the limit and no further: /dev/zero never ends.
func TestHFConfigEndlessFile(t *testing.T) {
	var err error
	used := allocated(func() { _, err = LoadHFConfig("/dev/zero") })
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, "/dev/zero is larger than the 4 MiB limit for this file")
	assert.LessOrEqual(t, used, uint64(32*mib), "allocated %.1f MiB", float64(used)/mib)
	t.Logf("refused after the limit, %.1f MiB allocated", float64(used)/mib)
}
