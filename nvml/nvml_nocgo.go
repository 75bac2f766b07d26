//go:build !(linux && cgo)

package nvml

import (
	"context"
	"fmt"
	"log/slog"
)

// unavailable is the real backend of a build that cannot reach NVML.
type unavailable struct{}

func openReal(string, bool, *slog.Logger) Backend { return unavailable{} }

func (unavailable) Snapshot(context.Context) (Snapshot, error) {
	return Snapshot{}, fmt.Errorf("%w: this binary was built without cgo; rebuild it on linux with CGO_ENABLED=1 and a C compiler", ErrUnavailable)
}

func (unavailable) Close() error { return nil }
