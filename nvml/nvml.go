// Package nvml reads the GPUs of a host: through NVIDIA's management library
// (go-nvml, cgo) or from a fake fleet (pure Go) for tests, demos and hosts
// without a GPU. Only this package imports go-nvml.
package nvml

import (
	"context"
	"errors"
	"log/slog"
)

// ErrUnavailable means the management library cannot be used at all: it is
// not installed, cannot be loaded, or the binary was built without cgo.
var ErrUnavailable = errors.New("nvml unavailable")

// Backend reads the devices of one host.
type Backend interface {
	// Snapshot reads every device now. It honours ctx: when the driver
	// hangs it returns ctx.Err() at the deadline. Concurrent callers share
	// one in-flight snapshot. A whole-backend failure (library not
	// loadable, init failed) is the error; a device's own failure is in
	// that Device.Err and the other devices are intact.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Close releases the library: one Shutdown per successful Init.
	Close() error
}

// Snapshot is the state of a host at one moment. Devices lists the full
// GPUs in index order, each followed by its MIG instances. A snapshot may be
// shared between callers: treat it, and what its pointers point to, as
// read-only.
type Snapshot struct {
	System  System
	Devices []Device
}

// System describes the driver stack.
type System struct {
	DriverVersion     string // "550.54.15"
	CUDADriverVersion string // "12.4": the CUDA version the driver supports
	NVMLVersion       string // "12.550.54.15"
}

// MIG modes of a device.
const (
	MIGEnabled  = "enabled"
	MIGDisabled = "disabled"
)

// Device is a full GPU or a MIG instance.
type Device struct {
	// Index is the GPU's NVML index; a MIG instance carries its parent's.
	Index             int
	UUID              string // "GPU-…" or, for a MIG instance, "MIG-…"
	Name              string // as NVML reports it: "NVIDIA H100 80GB HBM3"
	PCIBusID          string // "00000000:18:00.0"; a MIG instance carries its parent's
	ComputeCapability string // "9.0"
	// MIGMode is MIGEnabled or MIGDisabled, "" when the GPU cannot do MIG.
	MIGMode    string
	ParentUUID string // MIG instances only
	MIGProfile string // MIG instances only: "3g.40gb"
	Memory     Memory
	// Utilization is the ratio of time a kernel ran over the last sample
	// period (0–1); nil when the device does not report it.
	Utilization        *float64
	TemperatureCelsius *float64 // nil when not reported
	PowerWatts         *float64 // nil when not reported
	// Err is non-nil when the device is down (lost, unreadable); the
	// identity fields are still set where they are known.
	Err error
	// Processes hold memory on the device, largest first; read only when
	// the backend was opened with Config.Processes, else nil. A GPU in MIG
	// mode has none of its own: its instances hold them.
	Processes []Process
	// ProcessesErr is why the device's processes could not be listed
	// while the device itself was read.
	ProcessesErr error
}

// Process is a process holding memory on a device, as NVML lists it.
type Process struct {
	PID uint32
	// Name is the process' command name (/proc/PID/comm); "" where the
	// agent cannot see the process (another PID namespace).
	Name string
	// MemoryUsed is the device memory the process holds; NVML cannot
	// always tell it (MemoryKnown false).
	MemoryUsed  uint64
	MemoryKnown bool
}

// IsMIG reports whether d is a MIG instance.
func (d Device) IsMIG() bool { return d.ParentUUID != "" }

// Memory is a device's memory in bytes. With HasReserved (NVML's memory v2)
// Used is what processes allocated and Reserved what the driver and firmware
// hold; without it Used includes the reserved part. Either way
// Free = Total − Reserved − Used.
type Memory struct {
	Total, Reserved, Used, Free uint64
	HasReserved                 bool
}

// Config chooses and configures a backend.
type Config struct {
	// Fake is a built-in fleet name (see Fleets) or the path of a fleet
	// file; "" selects the real library.
	Fake string
	// LibraryPath overrides where the real library is loaded from
	// ("" = the system's libnvidia-ml.so.1).
	LibraryPath string
	// Processes adds each device's processes to every snapshot: two more
	// driver calls per device, in the same shared read.
	Processes bool
}

// Open returns the backend cfg asks for. The real backend does not fail
// when the library is missing: its snapshots return an error wrapping
// ErrUnavailable and it retries on later snapshots.
func Open(cfg Config, logger *slog.Logger) (Backend, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Fake != "" {
		f, err := OpenFake(cfg.Fake)
		if err != nil {
			return nil, err
		}
		f.processes = cfg.Processes
		return f, nil
	}
	return openReal(cfg.LibraryPath, cfg.Processes, logger), nil
}
