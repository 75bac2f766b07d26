package nvml

import (
	"errors"
	"fmt"
)

// ErrGPULost marks a device that no longer answers (fallen off the bus,
// reset, or removed); errors.Is-able in Device.Err.
var ErrGPULost = errors.New("gpu is lost")

// errClosed is returned by snapshots after Close.
var errClosed = errors.New("nvml backend is closed")

// checkDevice marks d down when its memory reading cannot be true (no memory
// at all, or a part above the total), so that nothing downstream computes
// negative or overflowing byte counts or plans on a device of size zero.
func checkDevice(d *Device) {
	if d.Err != nil {
		return
	}
	m := d.Memory
	if m.Total == 0 {
		// Every GPU and MIG instance has memory: a zero total is a reading
		// gone wrong, not a device that offers nothing.
		d.Err = fmt.Errorf("gpu %d reported 0 bytes of memory in total", d.Index)
		return
	}
	for _, part := range []struct {
		name  string
		bytes uint64
	}{{"free", m.Free}, {"used", m.Used}, {"reserved", m.Reserved}} {
		if part.bytes > m.Total {
			d.Err = fmt.Errorf("gpu %d reported %s memory %d bytes above its total %d bytes", d.Index, part.name, part.bytes, m.Total)
			return
		}
	}
}
