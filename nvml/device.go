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

// checkDevice marks d down when its memory reading cannot be true, so that
// nothing downstream computes negative or overflowing byte counts.
func checkDevice(d *Device) {
	if d.Err != nil {
		return
	}
	m := d.Memory
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
