//go:build linux && cgo

package nvml

import (
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// MockHost is the adapter over one of go-nvml's mock servers, for the fault
// tests of package nvml_test, which run it under the exporter's collector.
type MockHost struct {
	Server *server.Server
	h      *harness
}

// NewMockHost fills in the mock server s (mockHost) and opens the adapter on it.
func NewMockHost(t *testing.T, s *server.Server) *MockHost {
	return &MockHost{Server: s, h: adapterHarness(t, s, false)}
}

func (m *MockHost) Backend() Backend     { return m.h.backend }
func (m *MockHost) Lose(gpu int)         { m.h.lose(gpu) }
func (m *MockHost) Restore(gpu int)      { m.h.restore(gpu) }
func (m *MockHost) Slow(d time.Duration) { m.h.slow(d) }
func (m *MockHost) Unload()              { m.h.unload() }
func (m *MockHost) Reload()              { m.h.reload() }
func (m *MockHost) InitsBalanced() bool  { return m.h.balanced() }
func (m *MockHost) DriverCalls() uint64  { return m.h.calls() }
