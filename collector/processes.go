package collector

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/nvml"
)

// processesCollector names the process collector in vramfit_scrape_collector_*.
const processesCollector = "processes"

// otherProcesses is the pid and process of the series that sums the
// processes beyond the top N of a device: no real PID is a word.
const otherProcesses = "other"

var gpuProcessMemoryDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, "gpu", "process_memory_used_bytes"),
	"Memory a process holds on a GPU or MIG instance, as NVML lists it: each device's largest processes, the rest summed in pid=\"other\". process is the command name, empty where the agent cannot see the host's processes.",
	[]string{"gpu", "uuid", "pid", "process"}, nil)

// processCollector exports the processes of the snapshot every scrape
// reads anyway: the backend lists them in the same read when asked for
// (nvml.Config.Processes).
type processCollector struct {
	top int // processes exported per device; the rest are summed
}

// collect exports the processes of every device that is up. It fails when
// NVML cannot be read or a device's processes could not be listed; the
// devices that could are still exported. The series are built from this
// scrape's snapshot alone, so a process that ended leaves no series.
func (p *processCollector) collect(ch chan<- prometheus.Metric, s nvml.Snapshot, nvmlErr error) error {
	if nvmlErr != nil {
		return nvmlErr
	}
	var errs []error
	for _, d := range s.Devices {
		if d.Err != nil {
			continue // the nvml collector reports it
		}
		if d.ProcessesErr != nil {
			errs = append(errs, d.ProcessesErr)
			continue
		}
		gpu := strconv.Itoa(d.Index)
		var other uint64
		sized := 0
		for _, proc := range d.Processes {
			if !proc.MemoryKnown {
				continue // listed as a holder, but NVML cannot say how much it holds
			}
			if sized++; sized > p.top {
				other += proc.MemoryUsed
				continue
			}
			ch <- constGauge(gpuProcessMemoryDesc, float64(proc.MemoryUsed), gpu, d.UUID, strconv.FormatUint(uint64(proc.PID), 10), proc.Name)
		}
		if sized > p.top {
			ch <- constGauge(gpuProcessMemoryDesc, float64(other), gpu, d.UUID, otherProcesses, otherProcesses)
		}
	}
	return errors.Join(errs...)
}

// constGauge is a sample of labels that change from scrape to scrape. A
// label value that cannot be exported (text that is not UTF-8) fails
// that series alone.
func constGauge(desc *prometheus.Desc, v float64, labelValues ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labelValues...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
