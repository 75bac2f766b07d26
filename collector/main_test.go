package collector

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vramfit/vramfit/nvml"
)

// No test may leave a goroutine behind: a snapshot abandoned at the scrape
// timeout must end once the slow driver call returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	mib = 1 << 20
	gib = 1 << 30

	testTimeout = 5 * time.Second
	testTargets = "testdata/targets.yml"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openFleet opens a fake fleet (built-in name or file) for one test.
func openFleet(t *testing.T, nameOrPath string) *nvml.Fake {
	t.Helper()
	fake, err := nvml.OpenFake(nameOrPath)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, fake.Close()) })
	return fake
}

// fleetFrom builds a fake fleet from YAML written in the test.
func fleetFrom(t *testing.T, yaml string) *nvml.Fake {
	t.Helper()
	fleet, err := nvml.ParseFleet("test.yml", []byte(yaml))
	require.NoError(t, err)
	fake := nvml.NewFake(fleet)
	t.Cleanup(func() { require.NoError(t, fake.Close()) })
	return fake
}

// loadedStore is a store with path loaded.
func loadedStore(t *testing.T, path string) *TargetStore {
	t.Helper()
	s := NewTargetStore(path, discard())
	_, err := s.Reload()
	require.NoError(t, err)
	return s
}

// newTestCollector places the targets of targetsPath on backend.
func newTestCollector(t *testing.T, backend nvml.Backend, targetsPath string) (*Collector, *TargetStore) {
	t.Helper()
	store := loadedStore(t, targetsPath)
	return New(backend, store, testTimeout, discard()), store
}
