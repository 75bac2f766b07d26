package collector

import (
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

// collectGPUs exports the driver and every device of s. A device that is
// down keeps its identity and up = 0, and loses every reading: a stale
// value would be worse than none.
func collectGPUs(ch chan<- prometheus.Metric, s nvml.Snapshot) {
	send(ch, driverInfoDesc, 1, s.System.DriverVersion, s.System.CUDADriverVersion, s.System.NVMLVersion)
	seen := make(map[[2]string]bool, len(s.Devices))
	for _, d := range s.Devices {
		gpu := strconv.Itoa(d.Index)
		// Two devices whose identity NVML could not read may share one;
		// the first is exported, as a series cannot be exported twice.
		key := [2]string{gpu, d.UUID}
		if seen[key] {
			continue
		}
		seen[key] = true
		send(ch, gpuInfoDesc, 1, gpu, d.UUID, d.Name, d.PCIBusID, d.ComputeCapability, d.MIGMode, d.ParentUUID, d.MIGProfile)
		send(ch, gpuUpDesc, boolValue(d.Err == nil), gpu, d.UUID)
		if d.Err != nil {
			continue
		}
		m := d.Memory
		send(ch, gpuMemoryTotalDesc, float64(m.Total), gpu, d.UUID)
		send(ch, gpuMemoryUsedDesc, float64(m.Used), gpu, d.UUID)
		send(ch, gpuMemoryFreeDesc, float64(m.Free), gpu, d.UUID)
		if m.HasReserved {
			send(ch, gpuMemoryReservedDesc, float64(m.Reserved), gpu, d.UUID)
		}
		for _, r := range []struct {
			desc  *prometheus.Desc
			value *float64
		}{{gpuUtilizationDesc, d.Utilization}, {gpuTemperatureDesc, d.TemperatureCelsius}, {gpuPowerDesc, d.PowerWatts}} {
			if r.value != nil {
				send(ch, r.desc, *r.value, gpu, d.UUID)
			}
		}
	}
}
