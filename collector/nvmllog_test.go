package collector

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// recordingHandler keeps the level and message of every record.
type recordingHandler struct {
	mu      sync.Mutex
	records []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Level.String()+" "+r.Message)
	return nil
}

func (h *recordingHandler) logged() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.records...)
}

const (
	logNVMLFailing = "WARN cannot read the GPUs; exporting the targets' requirements without them"
	logNVMLBack    = "INFO reading the GPUs again"
)

// The exporter logs why the GPUs cannot be read once, when they stop
// being readable, and once when they are again: not at every scrape, and
// not once more from the backend that shares the exporter's logger.
func TestNVMLFailureLoggedOnce(t *testing.T) {
	t.Run("the real library, missing", func(t *testing.T) {
		logs := &recordingHandler{}
		logger := slog.New(logs)
		backend, err := nvml.Open(nvml.Config{LibraryPath: "/nonexistent/libnvidia-ml.so.1"}, logger)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, backend.Close()) })
		c := New(backend, loadedStore(t, testTargets), testTimeout, logger)
		for range 3 {
			testutil.CollectAndCount(c)
		}
		assert.Equal(t, []string{logNVMLFailing}, logs.logged())
	})
	t.Run("the fake library, missing then back", func(t *testing.T) {
		fake := openFleet(t, "h200")
		fake.SetFaults(nvml.Faults{Unavailable: "libnvidia-ml.so.1: cannot open shared object file"})
		logs := &recordingHandler{}
		c := New(fake, loadedStore(t, testTargets), testTimeout, slog.New(logs))
		for range 3 {
			testutil.CollectAndCount(c)
		}
		fake.SetFaults(nvml.Faults{})
		for range 3 {
			testutil.CollectAndCount(c)
		}
		assert.Equal(t, []string{logNVMLFailing, logNVMLBack}, logs.logged())
	})
}

// A GPU that falls off the bus is logged once when it goes down, with
// NVML's reason, and once when it answers again: the operator paged by
// VramfitGPUDown finds when and why in the agent's log, not a silence
// (and not a line per scrape). The other GPUs stay readable throughout, so
// the NVML collector's own log says nothing.
func TestGPULostLoggedOnce(t *testing.T) {
	fake := openFleet(t, "dgx-h100")
	logs := &recordingHandler{}
	c := New(fake, loadedStore(t, testTargets), testTimeout, slog.New(logs))
	testutil.CollectAndCount(c)
	require.Empty(t, logs.logged(), "nothing to say while every GPU answers")

	fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 3}}})
	for range 3 {
		testutil.CollectAndCount(c)
	}
	fake.SetFaults(nvml.Faults{})
	for range 3 {
		testutil.CollectAndCount(c)
	}
	assert.Equal(t, []string{
		"WARN a GPU is down; its memory is left out until it answers again",
		"INFO a GPU answers again",
	}, logs.logged())
}
