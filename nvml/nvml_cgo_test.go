//go:build linux && cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gib = 1 << 30

// driver is the state a test changes under a mock server: the mock's
// functions read it, so a test can change it while a read is in flight.
type driver struct {
	mu        sync.Mutex
	lost      map[int]bool
	delay     time.Duration
	unloaded  bool
	inits     int // successful
	shutdowns int
}

func (d *driver) locked(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f()
}

// mockHost fills in what go-nvml's mock servers leave nil or random
// (STYLE §5.3): fixed UUIDs and bus ids, memory v1 and v2, utilisation,
// temperature and power, MIG enumeration. GPU i has i GiB in use and
// 512 MiB reserved.
func mockHost(s *server.Server, drv *driver) []Device {
	s.InitFunc = func() gonvml.Return {
		drv.mu.Lock()
		defer drv.mu.Unlock()
		if drv.unloaded {
			return gonvml.ERROR_LIBRARY_NOT_FOUND
		}
		drv.inits++
		return gonvml.SUCCESS
	}
	s.ShutdownFunc = func() gonvml.Return {
		drv.locked(func() { drv.shutdowns++ })
		return gonvml.SUCCESS
	}
	count := len(s.Devices)
	s.DeviceGetCountFunc = func() (int, gonvml.Return) {
		var delay time.Duration
		drv.locked(func() { delay = drv.delay })
		time.Sleep(delay) // a driver call that hangs
		return count, gonvml.SUCCESS
	}
	var want []Device
	for i, nd := range s.Devices {
		dev := nd.(*server.Device)
		dev.UUID = fmt.Sprintf("GPU-00000000-0000-0000-0000-%012d", i)
		dev.PciBusID = fmt.Sprintf("00000000:%02X:00.0", 0x18+i)
		total, reserved, used := dev.MemoryInfo.Total, uint64(512)<<20, uint64(i)*gib
		dev.MemoryInfo = gonvml.Memory{Total: total, Used: reserved + used, Free: total - reserved - used}
		lost := func() bool {
			drv.mu.Lock()
			defer drv.mu.Unlock()
			return drv.lost[i]
		}
		dev.GetMemoryInfo_v2Func = func() (gonvml.Memory_v2, gonvml.Return) {
			if lost() {
				return gonvml.Memory_v2{}, gonvml.ERROR_GPU_IS_LOST
			}
			return gonvml.Memory_v2{Total: total, Reserved: reserved, Used: used, Free: total - reserved - used}, gonvml.SUCCESS
		}
		dev.GetPciInfoFunc = func() (gonvml.PciInfo, gonvml.Return) {
			var p gonvml.PciInfo
			for j, c := range dev.PciBusID {
				p.BusId[j] = int8(c)
			}
			return p, gonvml.SUCCESS
		}
		dev.GetUtilizationRatesFunc = func() (gonvml.Utilization, gonvml.Return) {
			return gonvml.Utilization{Gpu: uint32(10 * i)}, gonvml.SUCCESS
		}
		dev.GetTemperatureFunc = func(gonvml.TemperatureSensors) (uint32, gonvml.Return) { return uint32(30 + i), gonvml.SUCCESS }
		dev.GetPowerUsageFunc = func() (uint32, gonvml.Return) { return uint32(100_000 + i), gonvml.SUCCESS }
		dev.GetMaxMigDeviceCountFunc = func() (int, gonvml.Return) { return 0, gonvml.SUCCESS }
		want = append(want, Device{
			Index: i, UUID: dev.UUID, Name: dev.Config.Name, PCIBusID: dev.PciBusID,
			ComputeCapability: fmt.Sprintf("%d.%d", dev.Config.CudaMajor, dev.Config.CudaMinor),
			MIGMode:           MIGDisabled,
			Memory:            Memory{Total: total, Reserved: reserved, Used: used, Free: total - reserved - used, HasReserved: true},
		})
	}
	return want
}

// withMIG puts GPU 0 in MIG mode with a 3g.20gb instance in slot 0 and a
// 1g.5gb in slot 2; slot 1 is empty, as NVML's slots are sparse.
func withMIG(s *server.Server, want []Device) []Device {
	gpu0 := s.Devices[0].(*server.Device)
	gpu0.MigMode = gonvml.DEVICE_MIG_ENABLE
	want[0].MIGMode = MIGEnabled
	instance := func(slot int, profile string, memory uint64) (*mock.Device, Device) {
		uuid := fmt.Sprintf("MIG-00000000-0000-0000-0000-%012d", slot)
		m := &mock.Device{
			GetUUIDFunc: func() (string, gonvml.Return) { return uuid, gonvml.SUCCESS },
			GetNameFunc: func() (string, gonvml.Return) { return "NVIDIA A100-SXM4-40GB MIG " + profile, gonvml.SUCCESS },
			GetMemoryInfo_v2Func: func() (gonvml.Memory_v2, gonvml.Return) {
				return gonvml.Memory_v2{Total: memory, Used: gib, Free: memory - gib}, gonvml.SUCCESS
			},
		}
		return m, Device{Index: 0, UUID: uuid, Name: "NVIDIA A100-SXM4-40GB MIG " + profile, PCIBusID: want[0].PCIBusID,
			ComputeCapability: want[0].ComputeCapability, ParentUUID: want[0].UUID, MIGProfile: profile,
			Memory: Memory{Total: memory, Used: gib, Free: memory - gib, HasReserved: true}}
	}
	// Sizes from go-nvml's A100 40GB profile table (MemorySizeMB).
	m0, d0 := instance(0, "3g.20gb", 19968<<20)
	m2, d2 := instance(2, "1g.5gb", 4864<<20)
	gpu0.GetMaxMigDeviceCountFunc = func() (int, gonvml.Return) { return 7, gonvml.SUCCESS }
	gpu0.GetMigDeviceHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
		switch i {
		case 0:
			return m0, gonvml.SUCCESS
		case 2:
			return m2, gonvml.SUCCESS
		}
		return nil, gonvml.ERROR_NOT_FOUND
	}
	return append([]Device{want[0], d0, d2}, want[1:]...)
}

// errDlopenMissing is what dlopen says on a host without the driver.
var errDlopenMissing = errors.New("libnvidia-ml.so.1: cannot open shared object file: No such file or directory")

func adapterHarness(t *testing.T, s *server.Server, mig bool) *harness {
	drv := &driver{lost: map[int]bool{}}
	want := mockHost(s, drv)
	if mig {
		want = withMIG(s, want)
	}
	a := newAdapter(s, slog.New(slog.DiscardHandler), func() error {
		var err error
		drv.locked(func() {
			if drv.unloaded {
				err = errDlopenMissing
			}
		})
		return err
	})
	return &harness{
		backend: a,
		want:    want,
		calls:   func() uint64 { return uint64(len(s.DeviceGetCountCalls())) },
		lose:    func(i int) { drv.locked(func() { drv.lost[i] = true }) },
		restore: func(i int) { drv.locked(func() { drv.lost[i] = false }) },
		slow:    func(d time.Duration) { drv.locked(func() { drv.delay = d }) },
		unload:  func() { drv.locked(func() { drv.unloaded = true }) },
		reload:  func() { drv.locked(func() { drv.unloaded = false }) },
		balanced: func() bool {
			drv.mu.Lock()
			defer drv.mu.Unlock()
			return drv.inits > 0 && drv.inits == drv.shutdowns
		},
	}
}

func TestAdapterContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() *server.Server
		mig  bool
	}{
		{"dgxa100", dgxa100.New, false},
		{"dgxa100 with MIG", dgxa100.New, true},
		{"dgxh100", dgxh100.New, false},
		{"dgxh200", dgxh200.New, false},
		{"dgxb200", dgxb200.New, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runContract(t, func(t *testing.T) *harness { return adapterHarness(t, tc.new(), tc.mig) })
		})
	}
}

func newTestAdapter(t *testing.T, s *server.Server) (*adapter, []Device, *driver) {
	drv := &driver{lost: map[int]bool{}}
	want := mockHost(s, drv)
	a := newAdapter(s, slog.New(slog.DiscardHandler), func() error { return errDlopenMissing })
	t.Cleanup(func() {
		require.NoError(t, a.Close())
		assert.Equal(t, drv.inits, drv.shutdowns, "one Shutdown per successful Init")
	})
	return a, want, drv
}

func TestAdapterReadings(t *testing.T) {
	s := dgxh100.New()
	a, _, _ := newTestAdapter(t, s)
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	// The mock's CUDA driver version is 12040: CUDA 12.4.
	assert.Equal(t, System{DriverVersion: "550.54.15", CUDADriverVersion: "12.4", NVMLVersion: "12.550.54.15"}, snap.System)
	d := snap.Devices[3]
	require.NotNil(t, d.Utilization)
	assert.InDelta(t, 0.30, *d.Utilization, 1e-9, "30% is a ratio of 0.30")
	assert.Equal(t, 33.0, *d.TemperatureCelsius)
	assert.Equal(t, 100.003, *d.PowerWatts, "milliwatts become watts")
	assert.Equal(t, "9.0", d.ComputeCapability)
	assert.Empty(t, s.SystemGetCudaDriverVersion_v2Calls(), "the _v2 call needs libcuda")
}

func TestAdapterMemoryV1OnlyDriver(t *testing.T) {
	s := dgxa100.New()
	a, want, _ := newTestAdapter(t, s)
	s.LookupSymbolFunc = func(sym string) error {
		if sym == symbolMemoryV2 {
			return fmt.Errorf("symbol %q not found", sym)
		}
		return nil
	}
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	for i, d := range snap.Devices {
		w := want[i].Memory
		// v1: Used holds the reserve, nothing is reported apart.
		assert.Equal(t, Memory{Total: w.Total, Used: w.Used + w.Reserved, Free: w.Free}, d.Memory)
		assert.Empty(t, s.Devices[i].(*server.Device).GetMemoryInfo_v2Calls(), "an absent symbol is never called")
	}
}

func TestAdapterMemoryV2NotSupported(t *testing.T) {
	s := dgxa100.New()
	a, _, _ := newTestAdapter(t, s)
	dev := s.Devices[1].(*server.Device)
	dev.GetMemoryInfo_v2Func = func() (gonvml.Memory_v2, gonvml.Return) { return gonvml.Memory_v2{}, gonvml.ERROR_NOT_SUPPORTED }
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	assert.False(t, snap.Devices[1].Memory.HasReserved)
	assert.Equal(t, dev.MemoryInfo.Used, snap.Devices[1].Memory.Used)
	assert.True(t, snap.Devices[0].Memory.HasReserved)
}

func TestAdapterUnsupportedReadings(t *testing.T) {
	s := dgxa100.New()
	a, _, _ := newTestAdapter(t, s)
	dev := s.Devices[0].(*server.Device)
	dev.GetUtilizationRatesFunc = func() (gonvml.Utilization, gonvml.Return) { return gonvml.Utilization{}, gonvml.ERROR_NOT_SUPPORTED }
	dev.GetPowerUsageFunc = func() (uint32, gonvml.Return) { return 0, gonvml.ERROR_NOT_SUPPORTED }
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	assert.NoError(t, snap.Devices[0].Err)
	assert.Nil(t, snap.Devices[0].Utilization)
	assert.Nil(t, snap.Devices[0].PowerWatts)
	assert.NotNil(t, snap.Devices[0].TemperatureCelsius)
}

func TestAdapterGarbageMemory(t *testing.T) {
	s := dgxb200.New()
	a, _, _ := newTestAdapter(t, s)
	dev := s.Devices[5].(*server.Device)
	dev.GetMemoryInfo_v2Func = func() (gonvml.Memory_v2, gonvml.Return) {
		return gonvml.Memory_v2{Total: 100, Free: 1 << 40}, gonvml.SUCCESS
	}
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	require.Error(t, snap.Devices[5].Err)
	assert.Contains(t, snap.Devices[5].Err.Error(), "free memory 1099511627776 bytes above its total 100 bytes")
	assert.NoError(t, snap.Devices[4].Err)
}

func TestAdapterMIG(t *testing.T) {
	t.Run("profile from the GPU instance", func(t *testing.T) {
		s := dgxa100.New()
		a, _, _ := newTestAdapter(t, s)
		gpu0 := s.Devices[0].(*server.Device)
		_, ret := gpu0.SetMigMode(gonvml.DEVICE_MIG_ENABLE)
		require.Equal(t, gonvml.SUCCESS, ret)
		info, ret := gpu0.GetGpuInstanceProfileInfo(gonvml.GPU_INSTANCE_PROFILE_3_SLICE)
		require.Equal(t, gonvml.SUCCESS, ret)
		gi, ret := gpu0.CreateGpuInstance(&info)
		require.Equal(t, gonvml.SUCCESS, ret)
		giInfo, ret := gi.GetInfo()
		require.Equal(t, gonvml.SUCCESS, ret)
		gpu0.GetGpuInstanceByIdFunc = func(id int) (gonvml.GpuInstance, gonvml.Return) {
			if id == int(giInfo.Id) {
				return gi, gonvml.SUCCESS
			}
			return nil, gonvml.ERROR_NOT_FOUND
		}
		mig := &mock.Device{
			GetUUIDFunc:          func() (string, gonvml.Return) { return "MIG-00000000-0000-0000-0000-000000000009", gonvml.SUCCESS },
			GetNameFunc:          func() (string, gonvml.Return) { return "NVIDIA A100-SXM4-40GB", gonvml.SUCCESS },
			GetGpuInstanceIdFunc: func() (int, gonvml.Return) { return int(giInfo.Id), gonvml.SUCCESS },
			GetMemoryInfo_v2Func: func() (gonvml.Memory_v2, gonvml.Return) {
				return gonvml.Memory_v2{Total: uint64(info.MemorySizeMB) << 20, Free: uint64(info.MemorySizeMB) << 20}, gonvml.SUCCESS
			},
		}
		gpu0.GetMaxMigDeviceCountFunc = func() (int, gonvml.Return) { return 7, gonvml.SUCCESS }
		gpu0.GetMigDeviceHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
			if i == 0 {
				return mig, gonvml.SUCCESS
			}
			return nil, gonvml.ERROR_INVALID_ARGUMENT
		}
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		require.Len(t, snap.Devices, 9)
		// NVIDIA's name for the 3-slice profile of an A100 40GB.
		assert.Equal(t, "3g.20gb", snap.Devices[1].MIGProfile)
		assert.Equal(t, snap.Devices[0].UUID, snap.Devices[1].ParentUUID)
	})
	t.Run("driver without MIG calls", func(t *testing.T) {
		s := dgxa100.New()
		a, _, _ := newTestAdapter(t, s)
		s.LookupSymbolFunc = func(sym string) error {
			if strings.Contains(sym, "Mig") {
				return errors.New("absent")
			}
			return nil
		}
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		for i, d := range snap.Devices {
			assert.Empty(t, d.MIGMode)
			assert.Empty(t, s.Devices[i].(*server.Device).GetMigModeCalls())
		}
	})
	t.Run("a failing instance does not hide the others", func(t *testing.T) {
		s := dgxa100.New()
		a, want, _ := newTestAdapter(t, s)
		want = withMIG(s, want)
		gpu0 := s.Devices[0].(*server.Device)
		healthy := gpu0.GetMigDeviceHandleByIndexFunc
		gpu0.GetMigDeviceHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
			if i == 0 {
				return nil, gonvml.ERROR_UNKNOWN
			}
			return healthy(i)
		}
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		require.Len(t, snap.Devices, len(want))
		assert.ErrorIs(t, snap.Devices[1].Err, gonvml.ERROR_UNKNOWN)
		assert.Equal(t, want[0].UUID, snap.Devices[1].ParentUUID)
		assert.Equal(t, identity(want[2:]), identity(snap.Devices[2:]))
	})
	// Its instances hold a MIG GPU's memory: a GPU whose instances cannot
	// be counted has none to offer and must not look up and empty.
	for _, tc := range []struct {
		ret    gonvml.Return
		reinit bool
	}{
		{gonvml.ERROR_UNKNOWN, false},
		{gonvml.ERROR_GPU_IS_LOST, true},
	} {
		t.Run("instances that cannot be counted mark the GPU down: "+tc.ret.Error(), func(t *testing.T) {
			s := dgxa100.New()
			a, want, drv := newTestAdapter(t, s)
			want = withMIG(s, want)
			gpu0 := s.Devices[0].(*server.Device)
			gpu0.GetMaxMigDeviceCountFunc = func() (int, gonvml.Return) { return 0, tc.ret }
			snap, err := a.Snapshot(t.Context())
			require.NoError(t, err)
			require.Len(t, snap.Devices, len(want)-2, "no instances")
			gpu := snap.Devices[0]
			require.ErrorIs(t, gpu.Err, tc.ret)
			assert.Contains(t, gpu.Err.Error(), "MIG device count")
			assert.Equal(t, want[0].UUID, gpu.UUID)
			assert.Equal(t, MIGEnabled, gpu.MIGMode)
			assert.Zero(t, gpu.Memory)
			assert.Equal(t, identity(want[3:]), identity(snap.Devices[1:]))

			_, err = a.Snapshot(t.Context())
			require.NoError(t, err)
			wantInits := 1
			if tc.reinit {
				wantInits = 2 // a lost GPU asks for a fresh Init
			}
			assert.Equal(t, wantInits, drv.inits)
		})
	}
}

func TestProfileName(t *testing.T) {
	// NVIDIA's profile names for the sizes in go-nvml's A100 profile
	// tables (MemorySizeMB), on the 40 GB and 80 GB boards.
	tests := []struct {
		slices   uint32
		memory   uint64 // MiB
		gpuTotal uint64 // MiB
		want     string
	}{
		{1, 4864, 40960, "1g.5gb"},
		{3, 19968, 40960, "3g.20gb"},
		{7, 40192, 40960, "7g.40gb"},
		{1, 9856, 81920, "1g.10gb"},
		{4, 40192, 81920, "4g.40gb"},
		{7, 80384, 81920, "7g.80gb"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, profileName(tc.slices, tc.memory, tc.gpuTotal<<20))
	}
	assert.Empty(t, profileName(1, 4864, 0))
}

func TestAdapterLostGPU(t *testing.T) {
	s := dgxh100.New()
	a, want, drv := newTestAdapter(t, s)
	_, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	// The GPU no longer even gives a handle: its identity comes from the
	// last good read.
	s.DeviceGetHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
		if i == 6 {
			return nil, gonvml.ERROR_GPU_IS_LOST
		}
		return s.Devices[i], gonvml.SUCCESS
	}
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	require.ErrorIs(t, snap.Devices[6].Err, ErrGPULost)
	require.ErrorIs(t, snap.Devices[6].Err, gonvml.ERROR_GPU_IS_LOST)
	assert.Equal(t, want[6].UUID, snap.Devices[6].UUID)
	assert.Equal(t, want[6].PCIBusID, snap.Devices[6].PCIBusID)
	assert.Equal(t, identity(want[7:]), identity(snap.Devices[7:]))
	assert.Equal(t, 1, drv.inits)

	_, err = a.Snapshot(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, drv.inits, "a lost GPU makes the next snapshot initialise NVML again")
	assert.Equal(t, 1, drv.shutdowns)
}

func TestAdapterGPULostBeforeFirstRead(t *testing.T) {
	s := dgxa100.New()
	a, want, _ := newTestAdapter(t, s)
	s.DeviceGetHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
		if i == 2 {
			return nil, gonvml.ERROR_GPU_IS_LOST
		}
		return s.Devices[i], gonvml.SUCCESS
	}
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	require.ErrorIs(t, snap.Devices[2].Err, ErrGPULost)
	assert.Equal(t, 2, snap.Devices[2].Index, "never read, its index is still known")
	assert.Empty(t, snap.Devices[2].UUID)
	assert.Equal(t, identity(want[3:]), identity(snap.Devices[3:]))
}

func TestAdapterDriverReload(t *testing.T) {
	for _, ret := range []gonvml.Return{gonvml.ERROR_UNINITIALIZED, gonvml.ERROR_LIB_RM_VERSION_MISMATCH, gonvml.ERROR_DRIVER_NOT_LOADED} {
		t.Run(ret.Error(), func(t *testing.T) {
			s := dgxh200.New()
			a, want, drv := newTestAdapter(t, s)
			_, err := a.Snapshot(t.Context())
			require.NoError(t, err)
			// The driver is reloaded under the agent: the old session
			// answers with ret until NVML is initialised again.
			healthy := s.DeviceGetCountFunc
			stale := true
			s.DeviceGetCountFunc = func() (int, gonvml.Return) {
				if stale {
					return 0, ret
				}
				return healthy()
			}
			initOnce := s.InitFunc
			s.InitFunc = func() gonvml.Return { stale = false; return initOnce() }
			snap, err := a.Snapshot(t.Context())
			require.NoError(t, err, "the snapshot initialises again and succeeds")
			assert.Equal(t, identity(want), identity(snap.Devices))
			assert.Equal(t, 2, drv.inits)
			assert.Equal(t, 1, drv.shutdowns)
		})
	}
	t.Run("driver gone for good", func(t *testing.T) {
		s := dgxh200.New()
		a, _, drv := newTestAdapter(t, s)
		_, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		s.DeviceGetCountFunc = func() (int, gonvml.Return) { return 0, gonvml.ERROR_UNINITIALIZED }
		s.InitFunc = func() gonvml.Return { return gonvml.ERROR_DRIVER_NOT_LOADED }
		_, err = a.Snapshot(t.Context())
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "kernel driver is not loaded")
		assert.Equal(t, 1, drv.inits)
		assert.Equal(t, 1, drv.shutdowns)
		assert.Len(t, s.InitCalls(), 2, "one Init at start, one attempt after the driver left")
	})
}

// countingHandler counts the log records.
type countingHandler struct {
	slog.Handler
	mu      sync.Mutex
	records int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	h.records++
	h.mu.Unlock()
	return nil
}

func TestAdapterMissingLibrary(t *testing.T) {
	// The failure is the snapshot's error, which its caller logs once:
	// the adapter logging it too would say it twice.
	t.Run("retried every snapshot, not logged", func(t *testing.T) {
		s := dgxa100.New()
		drv := &driver{lost: map[int]bool{}, unloaded: true}
		mockHost(s, drv)
		logs := &countingHandler{}
		a := newAdapter(s, slog.New(logs), func() error { return errDlopenMissing })
		defer a.Close()
		for range 3 {
			_, err := a.Snapshot(t.Context())
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Equal(t, "nvml unavailable: "+errDlopenMissing.Error(), err.Error())
		}
		assert.Len(t, s.InitCalls(), 3)
		assert.Zero(t, logs.records)
		assert.Empty(t, s.ShutdownCalls(), "no Shutdown after a failed Init")
	})
	t.Run("the real library at a path that does not exist", func(t *testing.T) {
		b, err := Open(Config{LibraryPath: "/nonexistent/libnvidia-ml.so.1"}, nil)
		require.NoError(t, err, "a missing library does not fail Open")
		defer b.Close()
		_, err = b.Snapshot(t.Context())
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "/nonexistent/libnvidia-ml.so.1: cannot open shared object file: No such file or directory")
	})
}

// TestRealNVML reads the driver of this host, and skips where there is
// none. scripts/gpu-check.sh runs it on GPU hosts.
func TestRealNVML(t *testing.T) {
	// With the processes: their calls run against a real driver too.
	b, err := Open(Config{Processes: true}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	snap, err := b.Snapshot(ctx)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no NVIDIA driver here: %v", err)
	}
	require.NoError(t, err)
	t.Logf("driver %s, CUDA %s, NVML %s", snap.System.DriverVersion, snap.System.CUDADriverVersion, snap.System.NVMLVersion)
	assert.Regexp(t, `^[0-9]+\.[0-9]+$`, snap.System.CUDADriverVersion)
	require.NotEmpty(t, snap.Devices, "a driver without GPUs")
	for _, d := range snap.Devices {
		t.Logf("gpu %d %s %s %s cc %s mig %q profile %q: %+v", d.Index, d.UUID, d.Name, d.PCIBusID, d.ComputeCapability, d.MIGMode, d.MIGProfile, d.Memory)
		require.NoError(t, d.Err)
		require.NoError(t, d.ProcessesErr)
		for _, p := range d.Processes {
			t.Logf("  pid %d %q holds %d bytes (known: %v)", p.PID, p.Name, p.MemoryUsed, p.MemoryKnown)
			assert.Positive(t, p.PID)
		}
		m := d.Memory
		assert.Positive(t, m.Total)
		// Free, used and reserved are read at one moment and add up to
		// the total, within a MiB of rounding.
		assert.InDelta(t, float64(m.Total), float64(m.Free+m.Used+m.Reserved), 1<<20)
		if d.IsMIG() {
			assert.Regexp(t, `^MIG-`, d.UUID)
			assert.NotEmpty(t, d.MIGProfile)
		} else {
			assert.Regexp(t, `^GPU-`, d.UUID)
			assert.Regexp(t, `^[0-9A-Fa-f]{8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$`, d.PCIBusID)
			assert.Regexp(t, `^[0-9]+\.[0-9]$`, d.ComputeCapability)
		}
	}
}
