//go:build linux && cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/dl"
	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// defaultLibrary is what go-nvml loads when no path is given.
const defaultLibrary = "libnvidia-ml.so.1"

// Symbols probed after Init: calling one the installed driver lacks would
// abort the process (the library is bound lazily).
const (
	symbolMemoryV2 = "nvmlDeviceGetMemoryInfo_v2"
)

var symbolsMIG = []string{"nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex"}

// The process lists, newest version first. go-nvml binds the newest the
// library has at Init (v3 gives MIG instances' processes their GPU and
// compute instance); a list is read when any version is there.
var (
	symbolsComputeProcesses  = []string{"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses"}
	symbolsGraphicsProcesses = []string{"nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses"}
)

// memoryNotAvailable is NVML_VALUE_NOT_AVAILABLE in a process' memory:
// the driver cannot tell what the process holds.
const memoryNotAvailable = math.MaxUint64

// adapter is the real backend over go-nvml.
type adapter struct {
	flight flight
	lib    gonvml.Interface
	logger *slog.Logger
	// explainLoad says why the library cannot be loaded: go-nvml reports
	// only ERROR_LIBRARY_NOT_FOUND and drops dlopen's message.
	explainLoad func() error
	// processes lists each device's processes, named from procRoot; both
	// are set before the first snapshot.
	processes bool
	procRoot  string

	mu      sync.Mutex
	reading bool // a read is in flight: it owns the fields below
	closed  bool

	initialized bool
	reinit      bool // a lifecycle error asks for Shutdown and Init first
	hasMemoryV2 bool
	hasMIG      bool
	known       map[int]Device // each GPU's identity at its last good read

	// hasComputeProcesses and hasGraphicsProcesses: some version of each
	// process list is in the library.
	hasComputeProcesses, hasGraphicsProcesses bool
}

func openReal(libraryPath string, processes bool, logger *slog.Logger) Backend {
	var opts []gonvml.LibraryOption
	name := defaultLibrary
	if libraryPath != "" {
		opts = append(opts, gonvml.WithLibraryPath(libraryPath))
		name = libraryPath
	}
	a := newAdapter(gonvml.New(opts...), logger, func() error { return tryLoad(name) })
	a.processes = processes
	return a
}

// tryLoad opens and closes the library to learn why loading fails.
func tryLoad(name string) error {
	lib := dl.New(name, dl.RTLD_LAZY|dl.RTLD_LOCAL)
	if err := lib.Open(); err != nil {
		return err
	}
	return lib.Close()
}

func newAdapter(lib gonvml.Interface, logger *slog.Logger, explainLoad func() error) *adapter {
	a := &adapter{lib: lib, logger: logger, explainLoad: explainLoad, procRoot: procRoot, known: map[int]Device{}}
	a.flight.read = a.read
	return a
}

// Snapshot implements Backend.
func (a *adapter) Snapshot(ctx context.Context) (Snapshot, error) { return a.flight.snapshot(ctx) }

// Close implements Backend. It does not wait for a read stuck in the
// driver: that read shuts the library down when it returns.
func (a *adapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	if a.reading {
		return nil
	}
	return a.shutdown()
}

func (a *adapter) read() (Snapshot, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return Snapshot{}, errClosed
	}
	a.reading = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reading = false
		if a.closed {
			if err := a.shutdown(); err != nil {
				a.logger.Warn("nvml shutdown after close", "err", err)
			}
		}
	}()

	wasInitialized := a.initialized
	s, err := a.readOnce()
	if err != nil && wasInitialized && isLifecycle(err) {
		// The driver was reloaded or upgraded under us: start again once.
		a.logger.Info("nvml lost its driver, initialising again", "err", err)
		a.reinit = true
		s, err = a.readOnce()
	}
	return s, err
}

func (a *adapter) readOnce() (Snapshot, error) {
	if a.reinit {
		if err := a.shutdown(); err != nil {
			a.logger.Debug("nvml shutdown before init", "err", err)
		}
		a.reinit = false
	}
	if err := a.init(); err != nil {
		return Snapshot{}, err
	}
	count, ret := a.lib.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		return Snapshot{}, fmt.Errorf("nvml device count: %w", ret)
	}
	s := Snapshot{System: a.system()}
	for i := range count {
		s.Devices = append(s.Devices, a.readGPU(i)...)
	}
	return s, nil
}

// init initialises the library unless it is, and probes the optional
// symbols. A failure is the snapshot's error, not logged here: the caller
// (the collector, or inventory) reports it once.
func (a *adapter) init() error {
	if a.initialized {
		return nil
	}
	if ret := a.lib.Init(); ret != gonvml.SUCCESS {
		return a.initError(ret)
	}
	a.initialized = true
	ext := a.lib.Extensions()
	a.hasMemoryV2 = ext.LookupSymbol(symbolMemoryV2) == nil
	a.hasMIG = true
	for _, sym := range symbolsMIG {
		a.hasMIG = a.hasMIG && ext.LookupSymbol(sym) == nil
	}
	a.hasComputeProcesses = hasAny(ext, symbolsComputeProcesses)
	a.hasGraphicsProcesses = hasAny(ext, symbolsGraphicsProcesses)
	return nil
}

func hasAny(ext gonvml.ExtendedInterface, symbols []string) bool {
	for _, sym := range symbols {
		if ext.LookupSymbol(sym) == nil {
			return true
		}
	}
	return false
}

func (a *adapter) initError(ret gonvml.Return) error {
	switch {
	case errors.Is(ret, gonvml.ERROR_LIBRARY_NOT_FOUND):
		if err := a.explainLoad(); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: the library could not be loaded: %w", ErrUnavailable, ret)
	case errors.Is(ret, gonvml.ERROR_DRIVER_NOT_LOADED):
		return fmt.Errorf("%w: the NVIDIA kernel driver is not loaded: %w", ErrUnavailable, ret)
	}
	return fmt.Errorf("nvml init: %w", ret)
}

// shutdown undoes a successful Init, exactly once.
func (a *adapter) shutdown() error {
	if !a.initialized {
		return nil
	}
	a.initialized = false
	if ret := a.lib.Shutdown(); ret != gonvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}

// system reads the driver stack; a version NVML cannot give stays empty.
func (a *adapter) system() System {
	var s System
	if v, ret := a.lib.SystemGetDriverVersion(); ret == gonvml.SUCCESS {
		s.DriverVersion = v
	}
	if v, ret := a.lib.SystemGetNVMLVersion(); ret == gonvml.SUCCESS {
		s.NVMLVersion = v
	}
	// Not the _v2 call: it needs libcuda, absent from containers that
	// get only the driver's utility libraries.
	if v, ret := a.lib.SystemGetCudaDriverVersion(); ret == gonvml.SUCCESS && v > 0 {
		s.CUDADriverVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	return s
}

// readGPU reads GPU i and its MIG instances. A failure marks the GPU down
// and leaves the others alone.
func (a *adapter) readGPU(i int) []Device {
	h, ret := a.lib.DeviceGetHandleByIndex(i)
	if ret != gonvml.SUCCESS {
		return []Device{a.down(a.lastKnown(i), "get handle", ret)}
	}
	d := Device{Index: i}
	var major, minor int
	if d.UUID, ret = h.GetUUID(); ret != gonvml.SUCCESS {
		return []Device{a.down(a.lastKnown(i), "read UUID", ret)}
	}
	if d.Name, ret = h.GetName(); ret != gonvml.SUCCESS {
		return []Device{a.down(d, "read name", ret)}
	}
	pci, ret := h.GetPciInfo()
	if ret != gonvml.SUCCESS {
		return []Device{a.down(d, "read PCI info", ret)}
	}
	d.PCIBusID = busID(pci)
	if major, minor, ret = h.GetCudaComputeCapability(); ret == gonvml.SUCCESS {
		d.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	}
	if a.hasMIG {
		current, _, ret := h.GetMigMode()
		switch {
		case ret == gonvml.SUCCESS && current == gonvml.DEVICE_MIG_ENABLE:
			d.MIGMode = MIGEnabled
		case ret == gonvml.SUCCESS:
			d.MIGMode = MIGDisabled
		case isLifecycle(ret):
			return []Device{a.down(d, "read MIG mode", ret)}
		}
	}
	a.known[i] = d

	if d.Memory, ret = a.memory(h); ret != gonvml.SUCCESS {
		return []Device{a.down(d, "read memory", ret)}
	}
	if u, ret := h.GetUtilizationRates(); ret == gonvml.SUCCESS {
		d.Utilization = ptr(float64(u.Gpu) / 100)
	} else if isLifecycle(ret) {
		return []Device{a.down(d, "read utilisation", ret)}
	}
	if t, ret := h.GetTemperature(gonvml.TEMPERATURE_GPU); ret == gonvml.SUCCESS {
		d.TemperatureCelsius = ptr(float64(t))
	} else if isLifecycle(ret) {
		return []Device{a.down(d, "read temperature", ret)}
	}
	if p, ret := h.GetPowerUsage(); ret == gonvml.SUCCESS {
		d.PowerWatts = ptr(float64(p) / 1000) // milliwatts
	} else if isLifecycle(ret) {
		return []Device{a.down(d, "read power", ret)}
	}
	checkDevice(&d)
	if d.MIGMode == MIGEnabled && d.Err == nil {
		return a.readMIG(h, d)
	}
	if d.Err == nil {
		if ret := a.readProcesses(h, &d); isLifecycle(ret) {
			return []Device{a.down(d, "list processes", ret)}
		}
	}
	return []Device{d}
}

// readMIG reads a GPU in MIG mode and its instances. NVML reports
// utilisation, temperature and power per physical GPU, not per instance.
// The instances hold the GPU's memory: if they cannot be enumerated the
// GPU is down, not up and empty.
func (a *adapter) readMIG(h gonvml.Device, parent Device) []Device {
	count, ret := h.GetMaxMigDeviceCount()
	if ret != gonvml.SUCCESS {
		return []Device{a.down(parent, "get max MIG device count", ret)}
	}
	migs := []Device{parent}
	for j := range count {
		mh, ret := h.GetMigDeviceHandleByIndex(j)
		if errors.Is(ret, gonvml.ERROR_NOT_FOUND) || errors.Is(ret, gonvml.ERROR_INVALID_ARGUMENT) {
			continue // slots are sparse
		}
		d := Device{Index: parent.Index, PCIBusID: parent.PCIBusID, ComputeCapability: parent.ComputeCapability, ParentUUID: parent.UUID}
		if ret != gonvml.SUCCESS {
			migs = append(migs, a.down(d, fmt.Sprintf("get MIG instance %d", j), ret))
			continue
		}
		if d.UUID, ret = mh.GetUUID(); ret != gonvml.SUCCESS {
			migs = append(migs, a.down(d, fmt.Sprintf("read UUID of MIG instance %d", j), ret))
			continue
		}
		if d.Name, ret = mh.GetName(); ret != gonvml.SUCCESS {
			d.Name = parent.Name
		}
		d.MIGProfile = a.migProfile(h, mh, d.Name, parent.Memory.Total)
		if d.Memory, ret = a.memory(mh); ret != gonvml.SUCCESS {
			migs = append(migs, a.down(d, "read memory", ret))
			continue
		}
		checkDevice(&d)
		if d.Err == nil {
			if ret := a.readProcesses(mh, &d); isLifecycle(ret) {
				d = a.down(d, "list processes", ret)
			}
		}
		migs = append(migs, d)
	}
	return migs
}

// readProcesses lists the processes holding memory on h, a full GPU or a
// MIG instance (whose list holds only its own processes), when asked for.
// A process in both lists (CUDA and graphics) is one holder: NVML gives it
// the same memory in each. A list the device does not support is empty;
// another failure other than a lifecycle error leaves the device up with
// its ProcessesErr; a lifecycle error is returned.
func (a *adapter) readProcesses(h gonvml.Device, d *Device) gonvml.Return {
	if !a.processes {
		return gonvml.SUCCESS
	}
	byPID := map[uint32]Process{}
	for _, list := range []struct {
		kind string
		has  bool
		read func() ([]gonvml.ProcessInfo, gonvml.Return)
	}{
		{"compute", a.hasComputeProcesses, h.GetComputeRunningProcesses},
		{"graphics", a.hasGraphicsProcesses, h.GetGraphicsRunningProcesses},
	} {
		if !list.has {
			continue
		}
		infos, ret := list.read()
		if errors.Is(ret, gonvml.ERROR_NOT_SUPPORTED) {
			continue // none of this kind can run here: graphics on a MIG instance
		}
		if ret != gonvml.SUCCESS {
			d.ProcessesErr = fmt.Errorf("gpu %d: list %s processes of %s: %w", d.Index, list.kind, d.UUID, ret)
			return ret
		}
		for _, info := range infos {
			p := Process{PID: info.Pid, MemoryUsed: info.UsedGpuMemory, MemoryKnown: info.UsedGpuMemory != memoryNotAvailable}
			if !p.MemoryKnown {
				p.MemoryUsed = 0
			}
			if old, ok := byPID[p.PID]; ok && old.MemoryKnown && (!p.MemoryKnown || old.MemoryUsed > p.MemoryUsed) {
				p = old
			}
			byPID[p.PID] = p
		}
	}
	d.Processes = make([]Process, 0, len(byPID))
	for _, p := range byPID {
		p.Name = commandName(a.procRoot, p.PID)
		d.Processes = append(d.Processes, p)
	}
	sortProcesses(d.Processes)
	return gonvml.SUCCESS
}

// migProfile names an instance's profile: from its name ("NVIDIA
// A100-SXM4-80GB MIG 3g.40gb"), else from its GPU instance's profile.
func (a *adapter) migProfile(parent, mig gonvml.Device, name string, parentTotal uint64) string {
	if _, profile, ok := strings.Cut(name, " MIG "); ok && profile != "" {
		return profile
	}
	id, ret := mig.GetGpuInstanceId()
	if ret != gonvml.SUCCESS {
		return ""
	}
	gi, ret := parent.GetGpuInstanceById(id)
	if ret != gonvml.SUCCESS {
		return ""
	}
	info, ret := gi.GetInfo()
	if ret != gonvml.SUCCESS {
		return ""
	}
	profile, ret := parent.GetGpuInstanceProfileInfo(int(info.ProfileId))
	if ret != gonvml.SUCCESS {
		return ""
	}
	return profileName(profile.SliceCount, profile.MemorySizeMB, parentTotal)
}

// profileName builds a profile's name the way NVIDIA names them: the
// slices, then the instance's share of the GPU's memory rounded up to an
// eighth, in whole GB of the GPU's size (9856 MB of an 80 GB GPU: 1g.10gb).
func profileName(slices uint32, memoryMiB uint64, parentTotal uint64) string {
	if parentTotal == 0 {
		return ""
	}
	share := math.Ceil(float64(memoryMiB*mib)/float64(parentTotal)*8) / 8
	gpuGB := float64((parentTotal + 1<<30 - 1) >> 30)
	return fmt.Sprintf("%dg.%dgb", slices, uint64(math.Round(share*gpuGB)))
}

// memory reads memory v2 where the driver has it, else v1.
func (a *adapter) memory(h gonvml.Device) (Memory, gonvml.Return) {
	if a.hasMemoryV2 {
		m, ret := h.GetMemoryInfo_v2()
		if ret == gonvml.SUCCESS {
			return Memory{Total: m.Total, Reserved: m.Reserved, Used: m.Used, Free: m.Free, HasReserved: true}, ret
		}
		if !errors.Is(ret, gonvml.ERROR_NOT_SUPPORTED) && !errors.Is(ret, gonvml.ERROR_FUNCTION_NOT_FOUND) {
			return Memory{}, ret
		}
	}
	m, ret := h.GetMemoryInfo()
	return Memory{Total: m.Total, Used: m.Used, Free: m.Free}, ret
}

// lastKnown is GPU i's identity at its last good read, or only its index.
func (a *adapter) lastKnown(i int) Device {
	if d, ok := a.known[i]; ok {
		return d
	}
	return Device{Index: i}
}

// down is d marked down by ret, keeping its identity; a lifecycle error
// also asks for a fresh Init at the next snapshot.
func (a *adapter) down(d Device, what string, ret gonvml.Return) Device {
	d.Memory, d.Utilization, d.TemperatureCelsius, d.PowerWatts = Memory{}, nil, nil, nil
	if isLifecycle(ret) {
		a.reinit = true
	}
	if errors.Is(ret, gonvml.ERROR_GPU_IS_LOST) || errors.Is(ret, gonvml.ERROR_GPU_NOT_FOUND) {
		d.Err = fmt.Errorf("gpu %d: %s: %w: %w", d.Index, what, ErrGPULost, ret)
	} else {
		d.Err = fmt.Errorf("gpu %d: %s: %w", d.Index, what, ret)
	}
	return d
}

// isLifecycle reports errors after which NVML must be initialised again.
func isLifecycle(err error) bool {
	for _, ret := range []gonvml.Return{gonvml.ERROR_GPU_IS_LOST, gonvml.ERROR_UNINITIALIZED,
		gonvml.ERROR_DRIVER_NOT_LOADED, gonvml.ERROR_LIB_RM_VERSION_MISMATCH, gonvml.ERROR_GPU_NOT_FOUND} {
		if errors.Is(err, ret) {
			return true
		}
	}
	return false
}

// busID is the NUL-terminated bus id of pci, as nvidia-smi prints it.
func busID(pci gonvml.PciInfo) string {
	var b strings.Builder
	for _, c := range pci.BusId {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func ptr(v float64) *float64 { return &v }
