package nvml

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// checkDevice turns a reading that cannot be true into a device error, so
// that the exporter reports the device down instead of planning on it.
func TestCheckDeviceGarbage(t *testing.T) {
	const total = 80 << 30
	tests := []struct {
		name   string
		memory Memory
		want   string // "" when the reading is plausible
	}{
		{"plausible v2", Memory{Total: total, Reserved: 1 << 29, Used: 1 << 30, Free: total - 3<<29, HasReserved: true}, ""},
		{"plausible v1", Memory{Total: total, Used: 1 << 30, Free: total - 1<<30}, ""},
		{"all free", Memory{Total: total, Free: total}, ""},
		{"zero total", Memory{}, "gpu 4 reported 0 bytes of memory in total"},
		{"zero total with free memory", Memory{Free: 1 << 30}, "gpu 4 reported 0 bytes of memory in total"},
		{"free above total", Memory{Total: total, Free: total + 1}, "gpu 4 reported free memory 85899345921 bytes above its total 85899345920 bytes"},
		{"used above total", Memory{Total: total, Used: 1<<64 - 1}, "gpu 4 reported used memory 18446744073709551615 bytes above its total 85899345920 bytes"},
		{"reserved above total", Memory{Total: 1 << 30, Reserved: 2 << 30, HasReserved: true}, "gpu 4 reported reserved memory 2147483648 bytes above its total 1073741824 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Device{Index: 4, UUID: "GPU-4", Memory: tc.memory}
			checkDevice(&d)
			if tc.want == "" {
				assert.NoError(t, d.Err)
				return
			}
			assert.EqualError(t, d.Err, tc.want)
			assert.Equal(t, "GPU-4", d.UUID, "a device down keeps its identity")
		})
	}
}
