package collector

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vramfit/vramfit/nvml"
)

func TestPlacementNote(t *testing.T) {
	devices := []nvml.Device{{Index: 0}, {Index: 1}, {Index: 2}}
	tests := []struct {
		name         string
		gpusRequired int
		p            placement
		want         string
	}{
		{"fits", 2, placement{fits: true, devices: []int{2, 0}}, "on GPU 2, GPU 0"},
		{"busy devices", 2, placement{devices: []int{1, 2}}, "short of free memory on GPU 1, GPU 2"},
		// A 405B model on a host of three GPUs: naming the three would read
		// as a placement that does not exist.
		{"too few devices", 12, placement{devices: []int{0, 1, 2}}, "needs 12 GPUs; 3 can take it here"},
		{"no count fits", 0, placement{devices: []int{0}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, placementNote(devices, tc.gpusRequired, tc.p))
		})
	}
}

func TestGPURowDownNamesTheDeviceOnce(t *testing.T) {
	d := nvml.Device{Index: 7, Err: fmt.Errorf("gpu 7: %w", nvml.ErrGPULost)}
	assert.Equal(t, "gpu is lost", newGPURow(d).Down)
	d.Err = errors.New("unreadable memory: free above total")
	assert.Equal(t, "unreadable memory: free above total", newGPURow(d).Down)
}
