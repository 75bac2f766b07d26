//go:build linux && cgo

package nvml_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/nvml"
)

// seen is what one scrape of the collector over the adapter exports.
type seen struct {
	nvml    float64            // vramfit_scrape_collector_success{collector="nvml"}
	up      map[string]float64 // vramfit_gpu_up by GPU index
	uuid    map[string]string  // vramfit_gpu_info's uuid by GPU index
	memory  map[string]bool    // GPUs with a vramfit_gpu_memory_total_bytes series
	targets int                // vramfit_target_info series
}

// healthyDGX is what the eight GPUs of go-nvml's DGX H100 give when all
// answer: each up, with its memory.
func healthyDGX(uuids map[string]string) seen {
	s := seen{nvml: 1, up: map[string]float64{}, uuid: uuids, memory: map[string]bool{}, targets: 1}
	for i := range 8 {
		s.up[strconv.Itoa(i)] = 1
		s.memory[strconv.Itoa(i)] = true
	}
	return s
}

// down is s with these GPUs down: identity and up 0, no readings.
func (s seen) down(gpus ...int) seen {
	out := seen{nvml: s.nvml, up: map[string]float64{}, uuid: s.uuid, memory: map[string]bool{}, targets: s.targets}
	for gpu, v := range s.up {
		out.up[gpu] = v
	}
	for gpu := range s.memory {
		out.memory[gpu] = true
	}
	for _, gpu := range gpus {
		out.up[strconv.Itoa(gpu)] = 0
		delete(out.memory, strconv.Itoa(gpu))
	}
	return out
}

// withoutNVML is a scrape while NVML cannot be read: no device series at
// all, the target still exported.
var withoutNVML = seen{nvml: 0, up: map[string]float64{}, uuid: map[string]string{}, memory: map[string]bool{}, targets: 1}

func scrape(t *testing.T, reg *prometheus.Registry) seen {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	s := seen{up: map[string]float64{}, uuid: map[string]string{}, memory: map[string]bool{}}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "vramfit_scrape_collector_success":
				if labels["collector"] == "nvml" {
					s.nvml = m.GetGauge().GetValue()
				}
			case "vramfit_gpu_up":
				s.up[labels["gpu"]] = m.GetGauge().GetValue()
			case "vramfit_gpu_info":
				s.uuid[labels["gpu"]] = labels["uuid"]
			case "vramfit_gpu_memory_total_bytes":
				s.memory[labels["gpu"]] = true
			case "vramfit_target_info":
				s.targets++
			}
		}
	}
	return s
}

// exporter is the collector over a mock DGX H100 through the adapter, and
// the UUIDs the mock's GPUs carry.
func exporter(t *testing.T, timeout time.Duration) (*nvml.MockHost, *prometheus.Registry, map[string]string) {
	t.Helper()
	host := nvml.NewMockHost(t, dgxh100.New())
	path := filepath.Join(t.TempDir(), "targets.yml")
	require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n"), 0o600))
	store := collector.NewTargetStore(path, discard())
	_, err := store.Reload()
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(host.Backend(), store, timeout, discard()), store)
	uuids := map[string]string{}
	for i, d := range host.Server.Devices {
		uuids[strconv.Itoa(i)] = d.(*server.Device).UUID
	}
	return host, reg, uuids
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// closeHost closes the adapter: one Shutdown per successful Init, even
// after the faults.
func closeHost(t *testing.T, host *nvml.MockHost) {
	t.Helper()
	require.NoError(t, host.Backend().Close())
	assert.True(t, host.InitsBalanced(), "one Shutdown per successful Init")
}

// The faults of the real driver, through the adapter and the collector, as
// the exporter meets them: each scrape succeeds, the devices the fault does
// not touch and the target stay exported, nothing stays stale, and the
// host recovers without a restart.
func TestAdapterFaultsThroughCollector(t *testing.T) {
	const timeout = 5 * time.Second

	t.Run("library missing at start", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		host, reg, uuids := exporter(t, timeout)
		host.Unload()
		for range 2 {
			assert.Equal(t, withoutNVML, scrape(t, reg))
		}
		host.Reload()
		assert.Equal(t, healthyDGX(uuids), scrape(t, reg))
		closeHost(t, host)
	})

	t.Run("driver not loaded at start", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		host, reg, uuids := exporter(t, timeout)
		var notLoaded atomic.Bool
		notLoaded.Store(true)
		initOK := host.Server.InitFunc
		host.Server.InitFunc = func() gonvml.Return {
			if notLoaded.Load() {
				return gonvml.ERROR_DRIVER_NOT_LOADED
			}
			return initOK()
		}
		assert.Equal(t, withoutNVML, scrape(t, reg))
		_, err := host.Backend().Snapshot(t.Context())
		require.ErrorIs(t, err, nvml.ErrUnavailable)
		assert.Contains(t, err.Error(), "the NVIDIA kernel driver is not loaded")
		notLoaded.Store(false) // modprobe nvidia
		assert.Equal(t, healthyDGX(uuids), scrape(t, reg))
		closeHost(t, host)
	})

	t.Run("a GPU lost mid-run and back later", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		host, reg, uuids := exporter(t, timeout)
		healthy := healthyDGX(uuids)
		require.Equal(t, healthy, scrape(t, reg))
		host.Lose(6)
		for range 2 { // each snapshot initialises NVML again and finds it still lost
			assert.Equal(t, healthy.down(6), scrape(t, reg), "GPU 6 down with its UUID, the others intact")
		}
		host.Restore(6)
		assert.Equal(t, healthy, scrape(t, reg))
		closeHost(t, host)
	})

	for _, ret := range []gonvml.Return{gonvml.ERROR_UNINITIALIZED, gonvml.ERROR_LIB_RM_VERSION_MISMATCH} {
		t.Run("driver reload: "+ret.Error(), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			host, reg, uuids := exporter(t, timeout)
			require.Equal(t, healthyDGX(uuids), scrape(t, reg))
			// The driver is reloaded under the agent: the old session answers
			// ret until NVML is initialised again.
			var stale atomic.Bool
			stale.Store(true)
			countOK, initOK := host.Server.DeviceGetCountFunc, host.Server.InitFunc
			host.Server.DeviceGetCountFunc = func() (int, gonvml.Return) {
				if stale.Load() {
					return 0, ret
				}
				return countOK()
			}
			host.Server.InitFunc = func() gonvml.Return { stale.Store(false); return initOK() }
			assert.Equal(t, healthyDGX(uuids), scrape(t, reg), "the same scrape initialises again and reads every GPU")
			closeHost(t, host)
		})
	}

	t.Run("garbage memory readings", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		host, reg, uuids := exporter(t, timeout)
		const total = 80 << 30
		host.Server.Devices[2].(*server.Device).GetMemoryInfo_v2Func = func() (gonvml.Memory_v2, gonvml.Return) {
			return gonvml.Memory_v2{Total: total, Free: total + 1}, gonvml.SUCCESS // free above total
		}
		host.Server.Devices[5].(*server.Device).GetMemoryInfo_v2Func = func() (gonvml.Memory_v2, gonvml.Return) {
			return gonvml.Memory_v2{}, gonvml.SUCCESS // no memory at all
		}
		assert.Equal(t, healthyDGX(uuids).down(2, 5), scrape(t, reg))
		closeHost(t, host)
	})

	t.Run("a driver call that hangs past the scrape timeout", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		synctest.Test(t, func(t *testing.T) {
			host, reg, uuids := exporter(t, timeout)
			require.Equal(t, healthyDGX(uuids), scrape(t, reg))
			host.Slow(time.Minute)
			calls := host.DriverCalls()
			for range 3 {
				start := time.Now()
				assert.Equal(t, withoutNVML, scrape(t, reg))
				assert.Equal(t, timeout, time.Since(start), "the scrape ends at its timeout")
			}
			synctest.Wait()
			assert.Equal(t, calls+1, host.DriverCalls(), "one call into the hung driver for three scrapes")
			host.Slow(0)
			time.Sleep(time.Minute) // the stuck call returns
			synctest.Wait()
			assert.Equal(t, healthyDGX(uuids), scrape(t, reg))
			closeHost(t, host)
		})
	})
}
