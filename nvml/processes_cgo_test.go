//go:build linux && cgo

package nvml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// processLists are what a device's two process lists return.
type processLists struct {
	compute, graphics []gonvml.ProcessInfo
	ret               gonvml.Return
}

// listProcesses fills in the process calls go-nvml's mocks leave nil.
func listProcesses(d *mock.Device, l processLists) {
	d.GetComputeRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) { return l.compute, l.ret }
	d.GetGraphicsRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) { return l.graphics, l.ret }
}

// processAdapter is an adapter over s that lists processes, naming them
// from a /proc of the test's own with the given command names.
func processAdapter(t *testing.T, s *server.Server, comms map[string]string) (*adapter, []Device) {
	a, want, _ := newTestAdapter(t, s)
	a.processes = true
	a.procRoot = t.TempDir()
	for pid, comm := range comms {
		require.NoError(t, os.MkdirAll(filepath.Join(a.procRoot, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(a.procRoot, pid, "comm"), []byte(comm+"\n"), 0o644))
	}
	for _, d := range s.Devices {
		listProcesses(&d.(*server.Device).Device, processLists{})
	}
	return a, want
}

func TestAdapterProcesses(t *testing.T) {
	s := dgxh100.New()
	a, _ := processAdapter(t, s, map[string]string{"4100": "python3", "4200": "Xorg"})
	listProcesses(&s.Devices[2].(*server.Device).Device, processLists{
		compute: []gonvml.ProcessInfo{
			{Pid: 4300, UsedGpuMemory: 2 * gib},
			{Pid: 4100, UsedGpuMemory: 30 * gib},
			{Pid: 4400, UsedGpuMemory: memoryNotAvailable},
		},
		// A CUDA process that also draws is in both lists, with the same
		// memory: one holder.
		graphics: []gonvml.ProcessInfo{{Pid: 4200, UsedGpuMemory: 1 * gib}, {Pid: 4100, UsedGpuMemory: 30 * gib}},
	})
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Process{
		{PID: 4100, Name: "python3", MemoryUsed: 30 * gib, MemoryKnown: true},
		{PID: 4300, Name: "", MemoryUsed: 2 * gib, MemoryKnown: true}, // not visible from here
		{PID: 4200, Name: "Xorg", MemoryUsed: 1 * gib, MemoryKnown: true},
		{PID: 4400},
	}, snap.Devices[2].Processes)
	assert.Empty(t, snap.Devices[3].Processes)
	for i, d := range snap.Devices {
		assert.NoError(t, d.ProcessesErr, "gpu %d", i)
	}
}

func TestAdapterProcessesOff(t *testing.T) {
	s := dgxa100.New()
	a, _, _ := newTestAdapter(t, s) // the mocks' process calls stay nil: a call would panic
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	for _, d := range snap.Devices {
		assert.Nil(t, d.Processes)
	}
}

func TestAdapterProcessSymbols(t *testing.T) {
	for _, tc := range []struct {
		name              string
		absent            string // symbols containing this are missing
		compute, graphics bool
	}{
		{"v3 only", "_v2", true, true},
		{"v1 only", "_v", true, true},
		{"no graphics list", "Graphics", true, false},
		{"no list at all", "RunningProcesses", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dgxa100.New()
			a, _ := processAdapter(t, s, nil)
			s.LookupSymbolFunc = func(sym string) error {
				if strings.Contains(sym, "RunningProcesses") && strings.Contains(sym, tc.absent) &&
					(tc.absent != "_v" || strings.HasSuffix(sym, "_v2") || strings.HasSuffix(sym, "_v3")) {
					return errors.New("absent")
				}
				return nil
			}
			_, err := a.Snapshot(t.Context())
			require.NoError(t, err)
			dev := s.Devices[0].(*server.Device)
			assert.Equal(t, tc.compute, len(dev.GetComputeRunningProcessesCalls()) == 1, "compute list called")
			assert.Equal(t, tc.graphics, len(dev.GetGraphicsRunningProcessesCalls()) == 1, "graphics list called")
		})
	}
}

func TestAdapterProcessFailures(t *testing.T) {
	t.Run("a list that fails leaves the device up", func(t *testing.T) {
		s := dgxa100.New()
		a, _ := processAdapter(t, s, nil)
		listProcesses(&s.Devices[1].(*server.Device).Device, processLists{ret: gonvml.ERROR_NO_PERMISSION})
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		d := snap.Devices[1]
		require.NoError(t, d.Err)
		require.ErrorIs(t, d.ProcessesErr, gonvml.ERROR_NO_PERMISSION)
		assert.Equal(t, "gpu 1: list compute processes of "+d.UUID+": ERROR_NO_PERMISSION", d.ProcessesErr.Error())
		assert.Nil(t, d.Processes)
		assert.NoError(t, snap.Devices[2].ProcessesErr)
	})
	t.Run("a list the device does not support is empty", func(t *testing.T) {
		s := dgxa100.New()
		a, _ := processAdapter(t, s, nil)
		dev := &s.Devices[1].(*server.Device).Device
		dev.GetComputeRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) {
			return []gonvml.ProcessInfo{{Pid: 7, UsedGpuMemory: gib}}, gonvml.SUCCESS
		}
		dev.GetGraphicsRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) { return nil, gonvml.ERROR_NOT_SUPPORTED }
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		assert.NoError(t, snap.Devices[1].ProcessesErr)
		assert.Equal(t, []Process{{PID: 7, MemoryUsed: gib, MemoryKnown: true}}, snap.Devices[1].Processes)
	})
	t.Run("a lost GPU is down", func(t *testing.T) {
		s := dgxa100.New()
		a, _ := processAdapter(t, s, nil)
		listProcesses(&s.Devices[1].(*server.Device).Device, processLists{ret: gonvml.ERROR_GPU_IS_LOST})
		snap, err := a.Snapshot(t.Context())
		require.NoError(t, err)
		require.ErrorIs(t, snap.Devices[1].Err, ErrGPULost)
		assert.Contains(t, snap.Devices[1].Err.Error(), "list processes")
		assert.NoError(t, snap.Devices[0].Err)
	})
}

func TestAdapterMIGProcesses(t *testing.T) {
	s := dgxa100.New()
	a, want := processAdapter(t, s, map[string]string{"5100": "vllm"})
	want = withMIG(s, want)
	gpu0 := s.Devices[0].(*server.Device)
	// The parent in MIG mode would list every instance's processes again:
	// it must not be asked.
	gpu0.GetComputeRunningProcessesFunc = nil
	gpu0.GetGraphicsRunningProcessesFunc = nil
	handle := gpu0.GetMigDeviceHandleByIndexFunc
	gpu0.GetMigDeviceHandleByIndexFunc = func(i int) (gonvml.Device, gonvml.Return) {
		h, ret := handle(i)
		if ret == gonvml.SUCCESS {
			l := processLists{}
			if i == 0 {
				l.compute = []gonvml.ProcessInfo{{Pid: 5100, UsedGpuMemory: gib, GpuInstanceId: 1, ComputeInstanceId: 0}}
			}
			listProcesses(h.(*mock.Device), l)
		}
		return h, ret
	}
	snap, err := a.Snapshot(t.Context())
	require.NoError(t, err)
	require.Len(t, snap.Devices, len(want))
	assert.Empty(t, snap.Devices[0].Processes)
	assert.Equal(t, want[1].UUID, snap.Devices[1].UUID)
	assert.Equal(t, []Process{{PID: 5100, Name: "vllm", MemoryUsed: gib, MemoryKnown: true}}, snap.Devices[1].Processes)
	assert.Empty(t, snap.Devices[2].Processes)
}

// The contract every backend keeps (a lost GPU down and back, deadlines,
// one read for concurrent callers, one Shutdown per Init) holds with the
// processes read in the same snapshot.
func TestAdapterContractWithProcesses(t *testing.T) {
	runContract(t, func(t *testing.T) *harness {
		s := dgxh100.New()
		h := adapterHarness(t, s, false)
		h.backend.(*adapter).processes = true
		for _, d := range s.Devices {
			listProcesses(&d.(*server.Device).Device, processLists{compute: []gonvml.ProcessInfo{{Pid: 42, UsedGpuMemory: gib}}})
		}
		return h
	})
}
