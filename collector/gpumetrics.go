package collector

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/nvml"
)

var (
	gpuLabels = []string{"gpu", "uuid"}

	gpuInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "info"),
		"A GPU or MIG instance NVML lists, with its identity; always 1. gpu is the NVML index (a MIG instance's is its parent's).",
		[]string{"gpu", "uuid", "name", "pci_bus_id", "compute_capability", "mig_mode", "parent_uuid", "mig_profile"}, nil)
	gpuUpDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "up"),
		"Whether the device answers NVML (1) or is lost or unreadable (0, and its other series are absent).",
		gpuLabels, nil)
	gpuMemoryTotalDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "memory_total_bytes"),
		"Total memory of the device, as NVML reports it.",
		gpuLabels, nil)
	gpuMemoryUsedDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "memory_used_bytes"),
		"Memory allocated on the device. Where vramfit_gpu_memory_reserved_bytes is absent (NVML memory v1) it includes the driver's reserve.",
		gpuLabels, nil)
	gpuMemoryFreeDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "memory_free_bytes"),
		"Memory of the device neither allocated nor reserved.",
		gpuLabels, nil)
	gpuMemoryReservedDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "memory_reserved_bytes"),
		"Memory the driver and firmware reserve on the device; exported only where NVML reports it (memory v2).",
		gpuLabels, nil)
	gpuUtilizationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "utilization_ratio"),
		"Share of NVML's last sample period in which a kernel ran on the GPU (0 to 1), where reported.",
		gpuLabels, nil)
	gpuTemperatureDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "temperature_celsius"),
		"GPU core temperature, where reported.",
		gpuLabels, nil)
	gpuPowerDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "gpu", "power_watts"),
		"Power the GPU draws, where reported.",
		gpuLabels, nil)
	driverInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "driver", "info"),
		"The NVIDIA driver stack NVML reports; always 1. cuda_driver_version is the CUDA version the driver supports.",
		[]string{"driver_version", "cuda_driver_version", "nvml_version"}, nil)

	gpuDescs = []*prometheus.Desc{gpuInfoDesc, gpuUpDesc, gpuMemoryTotalDesc, gpuMemoryUsedDesc, gpuMemoryFreeDesc,
		gpuMemoryReservedDesc, gpuUtilizationDesc, gpuTemperatureDesc, gpuPowerDesc, driverInfoDesc}
)

// gpuMetrics are the series of the devices of a snapshot, built when
// their identities first appear and reused while they stay the same.
type gpuMetrics struct {
	system     nvml.System
	identities []identity
	// static are the driver's and the devices' info samples.
	static  []*gaugeSample
	devices []deviceSeries // parallel to identities
	// exported are the indexes of the devices exported, in the registry's
	// order of their gpu and uuid labels. Two devices whose identity NVML
	// could not read may share those labels: a series cannot be exported
	// twice, so the first is exported.
	exported []int
}

// identity is what a device's info series says of it.
type identity struct {
	index                                            int
	uuid, name, pciBusID, computeCapability, migMode string
	parentUUID, migProfile                           string
}

func identityOf(d *nvml.Device) identity {
	return identity{d.Index, d.UUID, d.Name, d.PCIBusID, d.ComputeCapability, d.MIGMode, d.ParentUUID, d.MIGProfile}
}

// deviceSeries are the series of one device's state and readings.
type deviceSeries struct {
	up, total, used, free, reserved *series
	utilization, temperature, power *series
}

// matches reports whether m describes the devices of s.
func (m *gpuMetrics) matches(s nvml.Snapshot) bool {
	if m == nil || m.system != s.System || len(m.identities) != len(s.Devices) {
		return false
	}
	for i := range s.Devices {
		if m.identities[i] != identityOf(&s.Devices[i]) {
			return false
		}
	}
	return true
}

func newGPUMetrics(s nvml.Snapshot) *gpuMetrics {
	m := &gpuMetrics{
		system:     s.System,
		identities: make([]identity, len(s.Devices)),
		devices:    make([]deviceSeries, len(s.Devices)),
	}
	gpus := make([]string, len(s.Devices))
	seen := make(map[[2]string]bool, len(s.Devices))
	for i := range s.Devices {
		d := &s.Devices[i]
		m.identities[i] = identityOf(d)
		gpus[i] = strconv.Itoa(d.Index)
		if key := [2]string{gpus[i], d.UUID}; !seen[key] {
			seen[key] = true
			m.exported = append(m.exported, i)
		}
	}
	slices.SortStableFunc(m.exported, func(a, b int) int {
		return cmp.Or(cmp.Compare(gpus[a], gpus[b]), cmp.Compare(s.Devices[a].UUID, s.Devices[b].UUID))
	})
	static := []gaugeSpec{{newSeries(driverInfoDesc, s.System.DriverVersion, s.System.CUDADriverVersion, s.System.NVMLVersion), 1}}
	for _, i := range m.exported {
		d := &s.Devices[i]
		static = append(static, gaugeSpec{newSeries(gpuInfoDesc, gpus[i], d.UUID, d.Name, d.PCIBusID, d.ComputeCapability, d.MIGMode, d.ParentUUID, d.MIGProfile), 1})
		up := newSeries(gpuUpDesc, gpus[i], d.UUID)
		m.devices[i] = deviceSeries{
			up:          up,
			total:       up.of(gpuMemoryTotalDesc),
			used:        up.of(gpuMemoryUsedDesc),
			free:        up.of(gpuMemoryFreeDesc),
			reserved:    up.of(gpuMemoryReservedDesc),
			utilization: up.of(gpuUtilizationDesc),
			temperature: up.of(gpuTemperatureDesc),
			power:       up.of(gpuPowerDesc),
		}
	}
	m.static = constGauges(static)
	return m
}

// collectGPUs exports the driver and every device of s. A device that is
// down keeps its identity and up = 0, and loses every reading: a stale
// value would be worse than none.
func collectGPUs(ch chan<- prometheus.Metric, s nvml.Snapshot, m *gpuMetrics) {
	for _, info := range m.static {
		ch <- info
	}
	b := newGaugeSamples(8 * len(m.exported)) // at most up and seven readings each
	for _, i := range m.exported {
		d, ds := &s.Devices[i], &m.devices[i]
		ch <- b.add(ds.up, boolValue(d.Err == nil))
		if d.Err != nil {
			continue
		}
		mem := d.Memory
		ch <- b.add(ds.total, float64(mem.Total))
		ch <- b.add(ds.used, float64(mem.Used))
		ch <- b.add(ds.free, float64(mem.Free))
		if mem.HasReserved {
			ch <- b.add(ds.reserved, float64(mem.Reserved))
		}
		for _, r := range []struct {
			series *series
			value  *float64
		}{{ds.utilization, d.Utilization}, {ds.temperature, d.TemperatureCelsius}, {ds.power, d.PowerWatts}} {
			if r.value != nil {
				ch <- b.add(r.series, *r.value)
			}
		}
	}
}
