package collector

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/collector/podresources"
	"github.com/vramfit/vramfit/nvml"
)

// podsCollector names the pod collector in vramfit_scrape_collector_*.
const podsCollector = "pods"

var gpuAllocationDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, "gpu", "allocation_info"),
	"A GPU or MIG instance the kubelet allocated to a container, from its pod-resources API; always 1. gpu is empty for a device NVML has not listed.",
	[]string{"gpu", "uuid", "namespace", "pod", "container"}, nil)

// PodLister lists the devices the kubelet allocated to containers.
// *podresources.Client is one.
type PodLister interface {
	List(ctx context.Context) ([]podresources.Allocation, error)
}

// podCollector exports the kubelet's allocations of this host's GPUs.
type podCollector struct {
	lister  PodLister
	timeout time.Duration
	// indexes maps the UUIDs of the devices last read to their NVML
	// index: while NVML cannot be read, the gpu label stays what it was.
	indexes atomic.Pointer[map[string]int]
}

// podsAnswer is one call to the kubelet: what it allocated, and how long
// it took to say.
type podsAnswer struct {
	allocations []podresources.Allocation
	err         error
	took        time.Duration
}

// ask calls the kubelet in the background, so that the call runs beside
// the read of the GPUs; the answer comes by the timeout at the latest.
func (p *podCollector) ask() <-chan podsAnswer {
	answer := make(chan podsAnswer, 1)
	go func() { answer <- p.list() }()
	return answer
}

// list asks the kubelet, bounded by the timeout.
func (p *podCollector) list() podsAnswer {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	a, err := p.lister.List(ctx)
	return podsAnswer{allocations: a, err: err, took: time.Since(start)}
}

// gpuIndexes maps the UUIDs of s's devices to their index, or returns the
// last map when s could not be read.
func (p *podCollector) gpuIndexes(s nvml.Snapshot, nvmlErr error) map[string]int {
	if nvmlErr != nil {
		if m := p.indexes.Load(); m != nil {
			return *m
		}
		return nil
	}
	m := make(map[string]int, len(s.Devices))
	for _, d := range s.Devices {
		if d.UUID != "" {
			m[d.UUID] = d.Index
		}
	}
	p.indexes.Store(&m)
	return m
}

// collect exports the answer's allocations of GPUs and MIG instances.
func (p *podCollector) collect(ch chan<- prometheus.Metric, s nvml.Snapshot, nvmlErr error, answer podsAnswer) error {
	indexes := p.gpuIndexes(s, nvmlErr)
	if answer.err != nil {
		return answer.err
	}
	for _, h := range podresources.GPUHolders(answer.allocations) {
		gpu := ""
		if i, ok := indexes[h.UUID]; ok {
			gpu = strconv.Itoa(i)
		}
		ch <- constGauge(gpuAllocationDesc, 1, gpu, h.UUID, h.Namespace, h.Pod, h.Container)
	}
	return nil
}
