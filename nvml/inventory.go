package nvml

// Inventory is a snapshot in the JSON form `vramfit inventory --output
// json` and the exporter's inventory API share: full GPUs, each with its
// MIG instances inside.
type Inventory struct {
	DriverVersion     string         `json:"driver_version"`
	CUDADriverVersion string         `json:"cuda_driver_version"`
	NVMLVersion       string         `json:"nvml_version"`
	Devices           []InventoryGPU `json:"devices"`
	// PodsError says why the kubelet could not be asked; absent when it
	// could, or was not asked.
	PodsError string `json:"pods_error,omitempty"`
}

// InventoryDevice holds what GPUs and MIG instances share. Memory fields
// are null where the device did not report them: all of them when it is
// down, the reserved bytes where the driver lacks memory v2.
type InventoryDevice struct {
	Index               int     `json:"index"`
	UUID                string  `json:"uuid"`
	Name                string  `json:"name"`
	PCIBusID            string  `json:"pci_bus_id"`
	ComputeCapability   string  `json:"compute_capability"`
	MemoryTotalBytes    *uint64 `json:"memory_total_bytes"`
	MemoryUsedBytes     *uint64 `json:"memory_used_bytes"`
	MemoryFreeBytes     *uint64 `json:"memory_free_bytes"`
	MemoryReservedBytes *uint64 `json:"memory_reserved_bytes"`
	MIGMode             string  `json:"mig_mode"`
	Error               *string `json:"error"`
	// Processes hold memory on the device, largest first; absent where
	// they were not listed (the process collector is off, the device is
	// down, or it is a GPU in MIG mode, whose instances list them).
	Processes []InventoryProcess `json:"processes,omitzero"`
	// Pods are the containers the kubelet allocated the device to; absent
	// where the kubelet was not asked.
	Pods []InventoryPod `json:"pods,omitzero"`
}

// InventoryProcess is a process holding memory on a device.
type InventoryProcess struct {
	PID  uint32 `json:"pid"`
	Name string `json:"name"`
	// MemoryUsedBytes is null where NVML cannot tell it.
	MemoryUsedBytes *uint64 `json:"memory_used_bytes"`
}

// InventoryPod is a container the kubelet allocated a device to.
type InventoryPod struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
}

// InventoryGPU is a full GPU.
type InventoryGPU struct {
	InventoryDevice
	MIGInstances []InventoryMIG `json:"mig_instances"`
}

// InventoryMIG is a MIG instance.
type InventoryMIG struct {
	InventoryDevice
	ParentUUID string `json:"parent_uuid"`
	MIGProfile string `json:"mig_profile"`
}

// NewInventory arranges s for JSON.
func NewInventory(s Snapshot) Inventory {
	inv := Inventory{
		DriverVersion:     s.System.DriverVersion,
		CUDADriverVersion: s.System.CUDADriverVersion,
		NVMLVersion:       s.System.NVMLVersion,
		Devices:           []InventoryGPU{},
	}
	for _, d := range s.Devices {
		if d.IsMIG() && len(inv.Devices) > 0 {
			gpu := &inv.Devices[len(inv.Devices)-1]
			gpu.MIGInstances = append(gpu.MIGInstances, InventoryMIG{InventoryDevice: inventoryDevice(d), ParentUUID: d.ParentUUID, MIGProfile: d.MIGProfile})
			continue
		}
		inv.Devices = append(inv.Devices, InventoryGPU{InventoryDevice: inventoryDevice(d), MIGInstances: []InventoryMIG{}})
	}
	return inv
}

func inventoryDevice(d Device) InventoryDevice {
	out := InventoryDevice{Index: d.Index, UUID: d.UUID, Name: d.Name, PCIBusID: d.PCIBusID,
		ComputeCapability: d.ComputeCapability, MIGMode: d.MIGMode}
	if d.Err != nil {
		msg := d.Err.Error()
		out.Error = &msg
		return out
	}
	m := d.Memory
	out.MemoryTotalBytes, out.MemoryUsedBytes, out.MemoryFreeBytes = &m.Total, &m.Used, &m.Free
	if m.HasReserved {
		out.MemoryReservedBytes = &m.Reserved
	}
	if d.Processes != nil {
		out.Processes = make([]InventoryProcess, len(d.Processes))
		for i, p := range d.Processes {
			out.Processes[i] = InventoryProcess{PID: p.PID, Name: p.Name}
			if p.MemoryKnown {
				out.Processes[i].MemoryUsedBytes = &p.MemoryUsed
			}
		}
	}
	return out
}

// SetPods gives every device its containers from pods (by UUID), an
// empty list where it has none.
func (inv *Inventory) SetPods(pods map[string][]InventoryPod) {
	set := func(d *InventoryDevice) {
		d.Pods = pods[d.UUID]
		if d.Pods == nil {
			d.Pods = []InventoryPod{}
		}
	}
	for i := range inv.Devices {
		gpu := &inv.Devices[i]
		set(&gpu.InventoryDevice)
		for j := range gpu.MIGInstances {
			set(&gpu.MIGInstances[j].InventoryDevice)
		}
	}
}
