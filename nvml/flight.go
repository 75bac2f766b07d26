package nvml

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/singleflight"
)

// flight shares one in-flight read of the devices between concurrent
// callers and lets each caller give up at its own deadline. A read stuck in
// the driver cannot be interrupted: it finishes in the background, and its
// goroutine ends when it returns; callers arriving meanwhile join it
// instead of piling more calls onto a hung driver.
type flight struct {
	group singleflight.Group
	read  func() (Snapshot, error)
}

func (f *flight) snapshot(ctx context.Context) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("nvml snapshot: %w", err)
	}
	ch := f.group.DoChan("snapshot", func() (any, error) { return f.read() })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Snapshot{}, r.Err
		}
		s := r.Val.(Snapshot)
		// Each caller gets its own slice, so that one caller's append or
		// sort cannot reach another's.
		s.Devices = slices.Clone(s.Devices)
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, fmt.Errorf("nvml snapshot abandoned, the driver has not answered: %w", ctx.Err())
	}
}
