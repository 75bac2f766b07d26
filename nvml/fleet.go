package nvml

import (
	"crypto/sha256"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/estimator/yamlsyntax"
)

// The fleet file format; docs/nvml.md describes it.
type fleetFile struct {
	DriverVersion     string     `yaml:"driver_version"`
	CUDADriverVersion string     `yaml:"cuda_driver_version"`
	NVMLVersion       string     `yaml:"nvml_version"`
	MemoryV1Only      bool       `yaml:"memory_v1_only"`
	GPUs              []gpuSpec  `yaml:"gpus"`
	Faults            faultsSpec `yaml:"faults"`
}

type gpuSpec struct {
	Line               int           `yaml:"-"` // where it is in the file, from setLines
	Board              string        `yaml:"board"`
	Count              int           `yaml:"count"`
	Name               string        `yaml:"name"`
	UUID               string        `yaml:"uuid"`
	PCIBusID           string        `yaml:"pci_bus_id"`
	ComputeCapability  string        `yaml:"compute_capability"`
	MemoryTotal        *byteSize     `yaml:"memory_total"`
	MemoryReserved     *byteSize     `yaml:"memory_reserved"`
	MemoryUsed         *byteSize     `yaml:"memory_used"`
	Processes          []processSpec `yaml:"processes"`
	MIGMode            string        `yaml:"mig_mode"`
	MIGInstances       []migSpec     `yaml:"mig_instances"`
	Utilization        *float64      `yaml:"utilization"`
	TemperatureCelsius *float64      `yaml:"temperature_celsius"`
	PowerWatts         *float64      `yaml:"power_watts"`
}

type migSpec struct {
	Line        int           `yaml:"-"` // where it is in the file, from setLines
	Profile     string        `yaml:"profile"`
	UUID        string        `yaml:"uuid"`
	MemoryTotal *byteSize     `yaml:"memory_total"`
	MemoryUsed  *byteSize     `yaml:"memory_used"`
	Processes   []processSpec `yaml:"processes"`
}

type processSpec struct {
	Line   int      `yaml:"-"` // where it is in the file, from setLines
	PID    int      `yaml:"pid"`
	Name   string   `yaml:"name"`
	Memory byteSize `yaml:"memory"`
}

type faultsSpec struct {
	Unavailable string     `yaml:"unavailable"`
	Delay       duration   `yaml:"delay"`
	Lost        []lostSpec `yaml:"lost"`
	Garbage     []int      `yaml:"garbage"`
}

type lostSpec struct {
	Line               int      `yaml:"-"` // where it is in the file, from setLines
	GPU                int      `yaml:"gpu"`
	BackAfterSnapshots int      `yaml:"back_after_snapshots"`
	BackAfter          duration `yaml:"back_after"`
}

// Bounds of a fleet file: enough for any real host, small enough that a
// hostile file cannot make the fake allocate much.
const (
	maxGPUs         = 256
	maxMIGInstances = 7 // NVML's most per GPU
	maxProcesses    = 1024
	// maxCommandName is the most bytes of /proc/PID/comm (TASK_COMM_LEN 16, less its NUL).
	maxCommandName   = 15
	maxNameLength    = 96 // NVML_DEVICE_NAME_V2_BUFFER_SIZE
	maxPowerWatts    = 5000
	minTemperatureC  = -40
	maxTemperatureC  = 150
	maxLostSnapshots = 1 << 20
)

// Versions a fleet gets when its file does not set them (the stack of
// NVIDIA/nccl#1264 and NVIDIA/cuda-samples#311).
const (
	defaultDriverVersion     = "550.54.15"
	defaultCUDADriverVersion = "12.4"
	defaultNVMLVersion       = "12.550.54.15"
)

var (
	gpuUUIDPattern      = regexp.MustCompile(`^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	migUUIDPattern      = regexp.MustCompile(`^MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	pciBusIDPattern     = regexp.MustCompile(`^[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-7]$`)
	capabilityPattern   = regexp.MustCompile(`^[0-9]{1,2}\.[0-9]$`)
	cudaVersionPattern  = regexp.MustCompile(`^[0-9]{1,3}\.[0-9]{1,2}$`)
	versionPattern      = regexp.MustCompile(`^[0-9A-Za-z.\-]{1,80}$`)
	migProfilePattern   = regexp.MustCompile(`^[1-7]g\.[0-9]{1,4}gb(\+[a-z]+)?$`)
	controlCharsPattern = regexp.MustCompile(`[\x00-\x1f\x7f]`)
)

// ParseFleet reads a fleet file. filename names the file in errors and
// seeds the devices' UUIDs, which are deterministic where the file does
// not set them.
func ParseFleet(filename string, data []byte) (Fleet, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		if line, msg, ok := yamlsyntax.Locate(data, err); ok {
			return Fleet{}, fmt.Errorf("%s:%d: %s", filename, line, msg)
		}
		return Fleet{}, fmt.Errorf("%s: %w", filename, err)
	}
	if len(root.Content) == 0 {
		return Fleet{}, fmt.Errorf("%s: the fleet file is empty; it needs at least a gpus list", filename)
	}
	file, err := decodeFleetFile(filename, data, root.Content[0])
	if err != nil {
		return Fleet{}, err
	}
	seed := strings.TrimSuffix(filepath.Base(filename), filepath.Ext(filename))
	return file.build(filename, seed)
}

// setLines sets the Line of every list item that errors name, from the
// lines of the file's values by path.
func (f *fleetFile) setLines(lines map[string]int) {
	setProcessLines := func(ps []processSpec, path string) {
		for i := range ps {
			ps[i].Line = lines[fmt.Sprintf("%s.processes[%d]", path, i)]
		}
	}
	for i := range f.GPUs {
		g := &f.GPUs[i]
		path := fmt.Sprintf("gpus[%d]", i)
		g.Line = lines[path]
		setProcessLines(g.Processes, path)
		for j := range g.MIGInstances {
			m := &g.MIGInstances[j]
			migPath := fmt.Sprintf("%s.mig_instances[%d]", path, j)
			m.Line = lines[migPath]
			setProcessLines(m.Processes, migPath)
		}
	}
	for i := range f.Faults.Lost {
		f.Faults.Lost[i].Line = lines[fmt.Sprintf("faults.lost[%d]", i)]
	}
}

// fleetBuilder turns a fleetFile into a Fleet, checking it as it goes.
type fleetBuilder struct {
	file  string
	seed  string
	fleet Fleet
	uuids map[string]bool
	buses map[string]bool
}

func (b *fleetBuilder) errorf(line int, field, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", b.file, line, field, fmt.Sprintf(format, args...))
}

func (f *fleetFile) build(filename, seed string) (Fleet, error) {
	b := &fleetBuilder{file: filename, seed: seed, uuids: map[string]bool{}, buses: map[string]bool{}}
	sys := System{
		DriverVersion:     or(f.DriverVersion, defaultDriverVersion),
		CUDADriverVersion: or(f.CUDADriverVersion, defaultCUDADriverVersion),
		NVMLVersion:       or(f.NVMLVersion, defaultNVMLVersion),
	}
	for _, v := range []struct{ field, value string }{{"driver_version", sys.DriverVersion}, {"nvml_version", sys.NVMLVersion}} {
		if !versionPattern.MatchString(v.value) {
			return Fleet{}, fmt.Errorf("%s: %s: %q is not a version such as %s", filename, v.field, v.value, defaultDriverVersion)
		}
	}
	if !cudaVersionPattern.MatchString(sys.CUDADriverVersion) {
		return Fleet{}, fmt.Errorf("%s: cuda_driver_version: %q is not a version such as 12.4", filename, sys.CUDADriverVersion)
	}
	b.fleet.System = sys
	for i, g := range f.GPUs {
		if err := b.addGPUs(g, fmt.Sprintf("gpus[%d]", i), f.MemoryV1Only); err != nil {
			return Fleet{}, err
		}
	}
	if err := b.addFaults(f.Faults); err != nil {
		return Fleet{}, err
	}
	return b.fleet, nil
}

func (b *fleetBuilder) gpuCount() int {
	n := 0
	for _, d := range b.fleet.Devices {
		if !d.IsMIG() {
			n++
		}
	}
	return n
}

func (b *fleetBuilder) addGPUs(g gpuSpec, path string, v1Only bool) error {
	count := g.Count
	if count == 0 {
		count = 1
	}
	if count < 0 || b.gpuCount()+count > maxGPUs {
		return b.errorf(g.Line, path+".count", "%d GPUs: a fleet holds 1 to %d GPUs in all", g.Count, maxGPUs)
	}
	if count > 1 && (g.UUID != "" || g.PCIBusID != "") {
		return b.errorf(g.Line, path, "uuid and pci_bus_id name one GPU: set them only where count is 1")
	}
	spec, err := b.resolveBoard(g, path)
	if err != nil {
		return err
	}
	for range count {
		if err := b.addGPU(g, spec, path, v1Only); err != nil {
			return err
		}
	}
	return nil
}

// resolveBoard merges the board g names with what g sets itself.
func (b *fleetBuilder) resolveBoard(g gpuSpec, path string) (board, error) {
	spec := board{}
	if g.Board != "" {
		known, ok := boards[g.Board]
		if !ok {
			return board{}, b.errorf(g.Line, path+".board", "unknown board %q; known boards are %s", g.Board, boardNames())
		}
		spec = known
	}
	if g.Name != "" {
		if len(g.Name) > maxNameLength || controlCharsPattern.MatchString(g.Name) {
			return board{}, b.errorf(g.Line, path+".name", "must be at most %d characters without control characters", maxNameLength)
		}
		spec.name = g.Name
	}
	if g.ComputeCapability != "" {
		if !capabilityPattern.MatchString(g.ComputeCapability) {
			return board{}, b.errorf(g.Line, path+".compute_capability", "%q is not a compute capability such as 9.0", g.ComputeCapability)
		}
		spec.computeCapability = g.ComputeCapability
	}
	if g.MemoryTotal != nil {
		spec.total = uint64(*g.MemoryTotal)
	}
	if g.MemoryReserved != nil {
		spec.reserved = uint64(*g.MemoryReserved)
	}
	switch {
	case spec.name == "":
		return board{}, b.errorf(g.Line, path, "set a board (%s) or a name", boardNames())
	case spec.total == 0:
		return board{}, b.errorf(g.Line, path+".memory_total", "set a board (%s) or a memory_total above 0", boardNames())
	case spec.reserved > spec.total:
		return board{}, b.errorf(g.Line, path+".memory_reserved", "%d bytes exceed memory_total %d bytes", spec.reserved, spec.total)
	}
	if g.Board == "" && g.MIGMode != "" {
		spec.migCapable = true // a board of the file's own that says it does MIG
	}
	return spec, nil
}

func (b *fleetBuilder) addGPU(g gpuSpec, spec board, path string, v1Only bool) error {
	index := b.gpuCount()
	d := Device{
		Index:             index,
		UUID:              or(g.UUID, b.uuid("GPU", fmt.Sprint(index))),
		Name:              spec.name,
		PCIBusID:          or(g.PCIBusID, defaultBusID(index)),
		ComputeCapability: spec.computeCapability,
	}
	if !gpuUUIDPattern.MatchString(d.UUID) {
		return b.errorf(g.Line, path+".uuid", "%q is not a GPU UUID such as GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b", d.UUID)
	}
	if !pciBusIDPattern.MatchString(d.PCIBusID) {
		return b.errorf(g.Line, path+".pci_bus_id", "%q is not a PCI bus id such as 00000000:18:00.0", d.PCIBusID)
	}
	if b.uuids[d.UUID] || b.buses[d.PCIBusID] {
		return b.errorf(g.Line, path, "uuid %s or pci_bus_id %s is already taken by another GPU", d.UUID, d.PCIBusID)
	}
	b.uuids[d.UUID], b.buses[d.PCIBusID] = true, true

	switch g.MIGMode {
	case "":
		if spec.migCapable {
			d.MIGMode = MIGDisabled
		}
	case MIGEnabled, MIGDisabled:
		if !spec.migCapable {
			return b.errorf(g.Line, path+".mig_mode", "board %s cannot do MIG; leave mig_mode out", g.Board)
		}
		d.MIGMode = g.MIGMode
	default:
		return b.errorf(g.Line, path+".mig_mode", "%q is not enabled or disabled", g.MIGMode)
	}
	if len(g.MIGInstances) > 0 && d.MIGMode != MIGEnabled {
		return b.errorf(g.Line, path+".mig_instances", "need mig_mode: enabled")
	}
	if err := b.setReadings(&d, g, path); err != nil {
		return err
	}

	used, processes, err := b.used(g.MemoryUsed, g.Processes, g.Line, path)
	if err != nil {
		return err
	}
	d.Processes = processes
	migs, migUsed, err := b.migInstances(d, g, spec, path, v1Only)
	if err != nil {
		return err
	}
	if len(migs) > 0 {
		if g.MemoryUsed != nil || len(g.Processes) > 0 {
			return b.errorf(g.Line, path, "a GPU in MIG mode uses memory through its mig_instances; move memory_used and processes there")
		}
		used = migUsed
	}
	d.Memory, err = memoryOf(spec.total, spec.reserved, used, v1Only)
	if err != nil {
		return b.errorf(g.Line, path, "%v", err)
	}
	b.fleet.Devices = append(b.fleet.Devices, d)
	b.fleet.Devices = append(b.fleet.Devices, migs...)
	return nil
}

// setReadings copies utilisation, temperature and power, each within the
// range a real GPU reports; a reading the file leaves out stays unreported.
func (b *fleetBuilder) setReadings(d *Device, g gpuSpec, path string) error {
	for _, r := range []struct {
		field    string
		value    *float64
		min, max float64
		dst      **float64
	}{
		{"utilization", g.Utilization, 0, 1, &d.Utilization},
		{"temperature_celsius", g.TemperatureCelsius, minTemperatureC, maxTemperatureC, &d.TemperatureCelsius},
		{"power_watts", g.PowerWatts, 0, maxPowerWatts, &d.PowerWatts},
	} {
		if r.value == nil {
			continue
		}
		if v := *r.value; !(v >= r.min && v <= r.max) {
			return b.errorf(g.Line, path+"."+r.field, "%v is outside %v to %v", v, r.min, r.max)
		}
		v := *r.value
		*r.dst = &v
	}
	return nil
}

// used is the memory that memory_used or the processes (not both) set,
// and the processes, largest first.
func (b *fleetBuilder) used(memoryUsed *byteSize, processes []processSpec, line int, path string) (uint64, []Process, error) {
	if memoryUsed != nil && len(processes) > 0 {
		return 0, nil, b.errorf(line, path, "set memory_used or processes, not both: the processes' memory adds up to what is used")
	}
	if memoryUsed != nil {
		return uint64(*memoryUsed), nil, nil
	}
	if len(processes) > maxProcesses {
		return 0, nil, b.errorf(line, path+".processes", "%d processes: at most %d", len(processes), maxProcesses)
	}
	var sum uint64
	out := make([]Process, 0, len(processes))
	seen := make(map[int]bool, len(processes))
	for i, p := range processes {
		field := fmt.Sprintf("%s.processes[%d]", path, i)
		if p.PID <= 0 || p.PID > math.MaxInt32 {
			return 0, nil, b.errorf(p.Line, field+".pid", "%d is not a process id above 0", p.PID)
		}
		if seen[p.PID] {
			return 0, nil, b.errorf(p.Line, field+".pid", "process %d is listed twice on this device", p.PID)
		}
		seen[p.PID] = true
		if p.Name == "" || controlCharsPattern.MatchString(p.Name) {
			return 0, nil, b.errorf(p.Line, field+".name", "must be set, without control characters")
		}
		if len(p.Name) > maxCommandName {
			return 0, nil, b.errorf(p.Line, field+".name", "%q is %d bytes; a command name as the kernel keeps it (/proc/PID/comm, what the real backend reports) has at most %d, such as \"vllm\" or \"python3\"", p.Name, len(p.Name), maxCommandName)
		}
		sum += uint64(p.Memory) // each is at most 1PiB: no overflow
		out = append(out, Process{PID: uint32(p.PID), Name: p.Name, MemoryUsed: uint64(p.Memory), MemoryKnown: true})
	}
	sortProcesses(out)
	return sum, out, nil
}

func (b *fleetBuilder) migInstances(parent Device, g gpuSpec, spec board, path string, v1Only bool) ([]Device, uint64, error) {
	if len(g.MIGInstances) > maxMIGInstances {
		return nil, 0, b.errorf(g.Line, path+".mig_instances", "%d instances: a GPU holds at most %d", len(g.MIGInstances), maxMIGInstances)
	}
	var migs []Device
	var totalSum, usedSum uint64
	for i, m := range g.MIGInstances {
		field := fmt.Sprintf("%s.mig_instances[%d]", path, i)
		if !migProfilePattern.MatchString(m.Profile) {
			return nil, 0, b.errorf(m.Line, field+".profile", "%q is not a MIG profile such as 3g.40gb", m.Profile)
		}
		total, known := spec.migProfiles[m.Profile]
		if m.MemoryTotal != nil {
			total = uint64(*m.MemoryTotal)
		} else if !known {
			return nil, 0, b.errorf(m.Line, field+".memory_total", "must be set: the memory of profile %s on this board is not built in", m.Profile)
		}
		used, processes, err := b.used(m.MemoryUsed, m.Processes, m.Line, field)
		if err != nil {
			return nil, 0, err
		}
		// A MIG instance's memory has no driver reserve of its own.
		mem, err := memoryOf(total, 0, used, v1Only)
		if err != nil {
			return nil, 0, b.errorf(m.Line, field, "%v", err)
		}
		d := Device{
			Index:             parent.Index,
			UUID:              or(m.UUID, b.uuid("MIG", fmt.Sprintf("%d/%d", parent.Index, i))),
			Name:              parent.Name + " MIG " + m.Profile,
			PCIBusID:          parent.PCIBusID,
			ComputeCapability: parent.ComputeCapability,
			ParentUUID:        parent.UUID,
			MIGProfile:        m.Profile,
			Memory:            mem,
			Processes:         processes,
		}
		if !migUUIDPattern.MatchString(d.UUID) || b.uuids[d.UUID] {
			return nil, 0, b.errorf(m.Line, field+".uuid", "%q is not a unique MIG UUID such as MIG-1d7c3c1e-9a41-5b0e-8f3e-6c2a9b7d4e10", d.UUID)
		}
		b.uuids[d.UUID] = true
		totalSum += total
		usedSum += used
		migs = append(migs, d)
	}
	if totalSum > spec.total {
		return nil, 0, b.errorf(g.Line, path+".mig_instances", "their memory (%d bytes) exceeds the GPU's %d bytes", totalSum, spec.total)
	}
	return migs, usedSum, nil
}

// memoryOf builds a device's memory as NVML reports it: with memory v2 the
// reserve apart from what processes use, with v1 inside it.
func memoryOf(total, reserved, used uint64, v1Only bool) (Memory, error) {
	if reserved > total || used > total-reserved {
		return Memory{}, fmt.Errorf("used %d bytes and reserved %d bytes exceed the total %d bytes", used, reserved, total)
	}
	m := Memory{Total: total, Reserved: reserved, Used: used, Free: total - reserved - used, HasReserved: true}
	if v1Only {
		m = Memory{Total: total, Used: reserved + used, Free: m.Free}
	}
	return m, nil
}

func (b *fleetBuilder) addFaults(f faultsSpec) error {
	faults := Faults{Unavailable: f.Unavailable, Delay: time.Duration(f.Delay)}
	if controlCharsPattern.MatchString(faults.Unavailable) {
		return fmt.Errorf("%s: faults.unavailable: must be one line without control characters", b.file)
	}
	gpus := b.gpuCount()
	for i, l := range f.Lost {
		field := fmt.Sprintf("faults.lost[%d]", i)
		if l.GPU < 0 || l.GPU >= gpus {
			return b.errorf(l.Line, field+".gpu", "%d is not the index of a GPU of this fleet (0 to %d)", l.GPU, gpus-1)
		}
		if l.BackAfterSnapshots < 0 || l.BackAfterSnapshots > maxLostSnapshots {
			return b.errorf(l.Line, field+".back_after_snapshots", "%d is outside 0 to %d", l.BackAfterSnapshots, maxLostSnapshots)
		}
		faults.Lost = append(faults.Lost, LostGPU{GPU: l.GPU, BackAfterSnapshots: l.BackAfterSnapshots, BackAfter: time.Duration(l.BackAfter)})
	}
	for _, gpu := range f.Garbage {
		if gpu < 0 || gpu >= gpus {
			return fmt.Errorf("%s: faults.garbage: %d is not the index of a GPU of this fleet (0 to %d)", b.file, gpu, gpus-1)
		}
	}
	faults.Garbage = f.Garbage
	b.fleet.Faults = faults
	return nil
}

// uuid derives a stable UUID from the fleet's name and what the device is.
func (b *fleetBuilder) uuid(prefix, what string) string {
	h := sha256.Sum256([]byte(b.seed + "/" + prefix + "/" + what))
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// dgxBuses are the PCI buses of the eight GPUs of a DGX H100
// (NVIDIA/nccl#1264 shows the first two, 18 and 2A).
var dgxBuses = [8]int{0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB}

func defaultBusID(index int) string {
	return fmt.Sprintf("%08X:%02X:00.0", index/len(dgxBuses), dgxBuses[index%len(dgxBuses)])
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
