package nvml

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Fleet is what a fake backend serves: the driver stack, the devices (full
// GPUs, each followed by its MIG instances, as in a Snapshot) and the
// faults to inject.
type Fleet struct {
	System  System
	Devices []Device
	Faults  Faults
}

// Faults are the failures a fake backend injects.
type Faults struct {
	// Unavailable, when not empty, fails every snapshot as if the library
	// could not be loaded, for this reason.
	Unavailable string
	// Delay makes every snapshot take this long, like a hung driver.
	Delay time.Duration
	// Lost GPUs are reported down, their MIG instances with them.
	Lost []LostGPU
	// Garbage lists GPU indexes whose memory reads are nonsense (free
	// above total), which the backend must report as device errors.
	Garbage []int
}

// LostGPU is a GPU that fell off the bus, optionally coming back.
type LostGPU struct {
	GPU int
	// BackAfterSnapshots, when above 0, brings the GPU back once this
	// many snapshots have reported it lost.
	BackAfterSnapshots int
	// BackAfter, when above 0, brings the GPU back this long after the
	// faults were set.
	BackAfter time.Duration
}

// The driver calls the fake counts, modelled on what the adapter makes:
// per snapshot the device count and three versions; per GPU its handle,
// UUID, name, PCI info, compute capability, MIG mode, memory, utilisation,
// temperature and power; per GPU in MIG mode the instance count; per
// instance its handle, UUID, name and memory.
const (
	fakeCallsPerSnapshot = 4
	fakeCallsPerGPU      = 10
	fakeCallsPerMIGGPU   = 1
	fakeCallsPerInstance = 4
	// With processes, every GPU not in MIG mode and every instance lists
	// its compute and its graphics processes.
	fakeCallsPerProcessList = 2
)

// Fake is a pure-Go backend serving a Fleet.
type Fake struct {
	flight flight
	calls  atomic.Uint64
	// processes serves the fleet's processes; set before the first
	// snapshot.
	processes bool

	mu        sync.Mutex
	fleet     Fleet
	faultsSet time.Time
	lostSeen  map[int]int // snapshots that reported each lost GPU
	closed    bool
}

var _ Backend = (*Fake)(nil)

// NewFake returns a backend serving fleet, its processes included.
func NewFake(fleet Fleet) *Fake {
	f := &Fake{processes: true}
	f.flight.read = f.read
	f.fleet = cloneFleet(fleet)
	f.setFaultsLocked(fleet.Faults)
	return f
}

// OpenFake opens a built-in fleet by name (see Fleets) or else a fleet file.
func OpenFake(nameOrPath string) (*Fake, error) {
	filename := nameOrPath
	data, ok := builtinFleet(nameOrPath)
	if ok {
		filename = nameOrPath + ".yml"
	} else {
		var err error
		if data, err = os.ReadFile(nameOrPath); err != nil {
			return nil, fmt.Errorf("fake fleet %q is neither a built-in fleet (%s) nor a readable fleet file: %w",
				nameOrPath, fleetNames(), err)
		}
	}
	fleet, err := ParseFleet(filename, data)
	if err != nil {
		return nil, err
	}
	return NewFake(fleet), nil
}

// Snapshot implements Backend.
func (f *Fake) Snapshot(ctx context.Context) (Snapshot, error) { return f.flight.snapshot(ctx) }

// Close implements Backend.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Calls returns how many driver calls the fake has simulated so far.
func (f *Fake) Calls() uint64 { return f.calls.Load() }

// SetFaults replaces the injected faults from the next snapshot on; timers
// (LostGPU.BackAfter) and counters start again.
func (f *Fake) SetFaults(faults Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setFaultsLocked(faults)
}

func (f *Fake) setFaultsLocked(faults Faults) {
	faults.Lost = slices.Clone(faults.Lost)
	faults.Garbage = slices.Clone(faults.Garbage)
	f.fleet.Faults = faults
	f.faultsSet = time.Now()
	f.lostSeen = make(map[int]int)
}

func (f *Fake) read() (Snapshot, error) {
	f.mu.Lock()
	delay := f.fleet.Faults.Delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // a hung driver call cannot be interrupted either
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return Snapshot{}, errClosed
	}
	if reason := f.fleet.Faults.Unavailable; reason != "" {
		f.calls.Add(1) // the Init that fails
		return Snapshot{}, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	f.calls.Add(fakeCallsPerSnapshot)
	lost := f.lostNowLocked()
	devices := slices.Clone(f.fleet.Devices)
	parentLost := false
	for i := range devices {
		d := &devices[i]
		switch {
		case d.IsMIG():
			f.calls.Add(fakeCallsPerInstance)
		case d.MIGMode == MIGEnabled:
			f.calls.Add(fakeCallsPerGPU + fakeCallsPerMIGGPU)
		default:
			f.calls.Add(fakeCallsPerGPU)
		}
		if !d.IsMIG() {
			parentLost = lost[d.Index]
		}
		switch {
		case parentLost:
			*d = Device{Index: d.Index, UUID: d.UUID, Name: d.Name, PCIBusID: d.PCIBusID,
				ComputeCapability: d.ComputeCapability, MIGMode: d.MIGMode,
				ParentUUID: d.ParentUUID, MIGProfile: d.MIGProfile,
				Err: fmt.Errorf("gpu %d: %w", d.Index, ErrGPULost)}
		case !d.IsMIG() && slices.Contains(f.fleet.Faults.Garbage, d.Index):
			d.Memory.Free = d.Memory.Total + 1<<30
		}
		checkDevice(d)
		switch {
		case !f.processes || d.Err != nil || (!d.IsMIG() && d.MIGMode == MIGEnabled):
			d.Processes = nil // not listed; a GPU in MIG mode: its instances are
		case d.Processes == nil:
			d.Processes = []Process{} // listed, and none
			fallthrough
		default:
			f.calls.Add(fakeCallsPerProcessList)
		}
	}
	for gpu := range lost {
		f.lostSeen[gpu]++
	}
	return Snapshot{System: f.fleet.System, Devices: devices}, nil
}

// lostNowLocked returns the GPUs that are lost at this snapshot.
func (f *Fake) lostNowLocked() map[int]bool {
	lost := make(map[int]bool)
	for _, l := range f.fleet.Faults.Lost {
		back := (l.BackAfterSnapshots > 0 && f.lostSeen[l.GPU] >= l.BackAfterSnapshots) ||
			(l.BackAfter > 0 && time.Since(f.faultsSet) >= l.BackAfter)
		if !back {
			lost[l.GPU] = true
		}
	}
	return lost
}

func cloneFleet(fleet Fleet) Fleet {
	fleet.Devices = slices.Clone(fleet.Devices)
	return fleet
}
