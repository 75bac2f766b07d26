package nvml

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// harness drives one backend through the contract every backend keeps.
type harness struct {
	backend Backend
	// want is what the first snapshot must report: every device's
	// identity and memory, in order.
	want []Device
	// calls counts the calls made into the driver so far.
	calls func() uint64
	// lose makes GPU i fall off the bus; restore brings it back.
	lose, restore func(i int)
	// slow makes every later read take d; 0 makes reads fast again.
	slow func(d time.Duration)
	// unload makes the library unloadable; reload makes it loadable.
	unload, reload func()
	// balanced reports whether every successful Init had its Shutdown.
	balanced func() bool
}

// identity strips what changes from snapshot to snapshot.
func identity(devices []Device) []Device {
	out := make([]Device, len(devices))
	for i, d := range devices {
		out[i] = Device{Index: d.Index, UUID: d.UUID, Name: d.Name, PCIBusID: d.PCIBusID,
			ComputeCapability: d.ComputeCapability, MIGMode: d.MIGMode, ParentUUID: d.ParentUUID,
			MIGProfile: d.MIGProfile, Memory: d.Memory}
	}
	return out
}

func runContract(t *testing.T, newHarness func(t *testing.T) *harness) {
	t.Run("snapshot", func(t *testing.T) {
		h := newHarness(t)
		defer h.backend.Close()
		s, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		assert.Equal(t, identity(h.want), identity(s.Devices))
		assert.Regexp(t, `^[0-9]+\.[0-9]+$`, s.System.CUDADriverVersion)
		assert.NotEmpty(t, s.System.DriverVersion)
		assert.NotEmpty(t, s.System.NVMLVersion)
		for _, d := range s.Devices {
			require.NoError(t, d.Err, "device %s", d.UUID)
			m := d.Memory
			assert.LessOrEqual(t, m.Used, m.Total, "used of %s", d.UUID)
			assert.LessOrEqual(t, m.Reserved, m.Total, "reserved of %s", d.UUID)
			assert.Equal(t, m.Total, m.Free+m.Used+m.Reserved, "free+used+reserved of %s", d.UUID)
			if d.IsMIG() {
				assert.Nil(t, d.Utilization, "NVML reports no utilisation per MIG instance")
			}
		}
	})

	t.Run("callers own their snapshot", func(t *testing.T) {
		h := newHarness(t)
		defer h.backend.Close()
		a, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		a.Devices[0].UUID = "changed by one caller"
		b, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		assert.Equal(t, h.want[0].UUID, b.Devices[0].UUID)
	})

	t.Run("lost GPU is down, the others intact, then back", func(t *testing.T) {
		h := newHarness(t)
		defer h.backend.Close()
		lost := len(h.want) - 1
		for h.want[lost].IsMIG() {
			lost--
		}
		h.lose(h.want[lost].Index)
		s, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err, "one lost GPU is not a failed snapshot")
		require.Len(t, s.Devices, len(h.want))
		for i, d := range s.Devices {
			if i == lost {
				require.ErrorIs(t, d.Err, ErrGPULost)
				assert.Equal(t, h.want[i].UUID, d.UUID, "a lost GPU keeps its identity")
				assert.Zero(t, d.Memory, "a lost GPU reports no memory")
				continue
			}
			assert.NoError(t, d.Err, "device %d", i)
			assert.Equal(t, identity(h.want)[i], identity([]Device{d})[0])
		}
		h.restore(h.want[lost].Index)
		s, err = h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		assert.Equal(t, identity(h.want), identity(s.Devices))
		assert.NoError(t, s.Devices[lost].Err)
	})

	t.Run("unloadable library, then loadable", func(t *testing.T) {
		h := newHarness(t)
		defer h.backend.Close()
		h.unload()
		for range 2 { // it keeps failing, and keeps trying
			_, err := h.backend.Snapshot(t.Context())
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Contains(t, err.Error(), "cannot open shared object file")
		}
		h.reload()
		s, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		assert.Equal(t, identity(h.want), identity(s.Devices))
	})

	t.Run("a stuck driver call fails the snapshot at the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			defer h.backend.Close()
			h.slow(time.Minute)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := h.backend.Snapshot(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 5*time.Second, time.Since(start), "it returns at the deadline, not when the driver does")
			// A caller arriving while the stuck read is in flight joins it
			// rather than adding calls to a hung driver.
			calls := h.calls()
			ctx2, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel2()
			_, err = h.backend.Snapshot(ctx2)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			synctest.Wait()
			assert.Equal(t, calls, h.calls())
			// Once the driver answers, the abandoned read ends: the bubble
			// fails the test if any goroutine is left blocked.
			time.Sleep(time.Minute)
			synctest.Wait()
		})
	})

	t.Run("concurrent callers share one read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			defer h.backend.Close()
			_, err := h.backend.Snapshot(t.Context())
			require.NoError(t, err)
			before := h.calls()
			_, err = h.backend.Snapshot(t.Context())
			require.NoError(t, err)
			perSnapshot := h.calls() - before

			h.slow(time.Second)
			before = h.calls()
			var wg sync.WaitGroup
			errs := make([]error, 16)
			for i := range errs {
				wg.Go(func() { _, errs[i] = h.backend.Snapshot(t.Context()) })
			}
			synctest.Wait() // every caller is waiting on the one read
			wg.Wait()
			for _, err := range errs {
				assert.NoError(t, err)
			}
			assert.Equal(t, perSnapshot, h.calls()-before, "16 callers, one read")
		})
	})

	t.Run("close", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.backend.Snapshot(t.Context())
		require.NoError(t, err)
		require.NoError(t, h.backend.Close())
		require.NoError(t, h.backend.Close(), "a second Close is harmless")
		_, err = h.backend.Snapshot(t.Context())
		require.Error(t, err)
		assert.True(t, h.balanced(), "one Shutdown per successful Init")
	})

	t.Run("close while a read is stuck", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.backend.Snapshot(t.Context())
			require.NoError(t, err)
			h.slow(time.Minute)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err = h.backend.Snapshot(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			start := time.Now()
			require.NoError(t, h.backend.Close())
			assert.Zero(t, time.Since(start), "Close does not wait for the driver")
			time.Sleep(time.Minute) // the stuck read returns
			synctest.Wait()
			assert.True(t, h.balanced(), "the stuck read shut the library down when it returned")
		})
	})
}
