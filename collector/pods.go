package collector

import (
	"context"
	"strconv"
	"strings"
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

// deviceUUID is the GPU or MIG UUID in a device plugin's device ID, and
// whether there is one. NVIDIA's plugin names time-sliced replicas
// "GPU-…::0", "GPU-…::1"; other plugins' devices are not GPUs.
func deviceUUID(id string) (string, bool) {
	id, _, _ = strings.Cut(id, "::")
	return id, strings.HasPrefix(id, "GPU-") || strings.HasPrefix(id, "MIG-")
}

// podKey is one series of vramfit_gpu_allocation_info, less its gpu.
type podKey struct{ uuid, namespace, pod, container string }

// byDevice groups the allocations of GPUs and MIG instances by UUID, each
// container once per device (time-sliced replicas are one device), in the
// kubelet's order.
func byDevice(allocations []podresources.Allocation) (map[string][]podKey, []podKey) {
	grouped := map[string][]podKey{}
	var order []podKey
	seen := map[podKey]bool{}
	for _, a := range allocations {
		uuid, ok := deviceUUID(a.DeviceID)
		if !ok {
			continue
		}
		k := podKey{uuid, a.Namespace, a.Pod, a.Container}
		if seen[k] {
			continue
		}
		seen[k] = true
		grouped[uuid] = append(grouped[uuid], k)
		order = append(order, k)
	}
	return grouped, order
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
	_, keys := byDevice(answer.allocations)
	for _, k := range keys {
		gpu := ""
		if i, ok := indexes[k.uuid]; ok {
			gpu = strconv.Itoa(i)
		}
		ch <- constGauge(gpuAllocationDesc, 1, gpu, k.uuid, k.namespace, k.pod, k.container)
	}
	return nil
}
