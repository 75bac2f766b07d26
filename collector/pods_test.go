package collector

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"

	"github.com/vramfit/vramfit/collector/podresources"
	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
	"github.com/vramfit/vramfit/nvml"
)

// stubPods is a kubelet answering what the test sets.
type stubPods struct {
	mu          sync.Mutex
	allocations []podresources.Allocation
	err         error
}

func podsOf(a ...podresources.Allocation) *stubPods { return &stubPods{allocations: a} }

func (s *stubPods) List(context.Context) ([]podresources.Allocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocations, s.err
}

func allocation(namespace, pod, container, device string) podresources.Allocation {
	return podresources.Allocation{Namespace: namespace, Pod: pod, Container: container, Resource: "nvidia.com/gpu", DeviceID: device}
}

const allocationHelp = `# HELP vramfit_gpu_allocation_info A GPU or MIG instance the kubelet allocated to a container, from its pod-resources API; always 1. gpu is empty for a device NVML has not listed.
# TYPE vramfit_gpu_allocation_info gauge
`

// Against the kubelet's real gRPC API: whole GPUs, a MIG instance of the
// mixed strategy, time-sliced replicas of one GPU (one series per
// container), a device of another plugin (no series) and a GPU NVML does
// not list (no gpu label).
func TestCollectPods(t *testing.T) {
	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(
		podresourcestest.Pod("ml", "vllm-0", "nvidia.com/gpu", map[string][]string{
			"server": {"GPU-00000000-0000-0000-0000-000000000000", "GPU-00000000-0000-0000-0000-000000000002"},
		}),
		podresourcestest.Pod("lab", "notebook", "nvidia.com/mig-3g.40gb", map[string][]string{
			"jupyter": {"MIG-00000000-0000-0000-0000-000000000001"},
		}),
		podresourcestest.Pod("lab", "shared", "nvidia.com/gpu", map[string][]string{
			"a": {"GPU-00000000-0000-0000-0000-000000000002::0", "GPU-00000000-0000-0000-0000-000000000002::1"},
			"b": {"GPU-00000000-0000-0000-0000-000000000002::2"},
		}),
		podresourcestest.Pod("net", "sriov", "intel.com/sriov", map[string][]string{"nic": {"0000:3b:02.0"}}),
		podresourcestest.Pod("ml", "elsewhere", "nvidia.com/gpu", map[string][]string{"c": {"GPU-00000000-0000-0000-0000-0000000000ff"}}),
	)
	c := New(fleetFrom(t, holdersFleet), loadedStore(t, testTargets), testTimeout, discard(),
		WithPods(podresources.New(kubelet.Socket, testTimeout)))
	want := allocationHelp + `
vramfit_gpu_allocation_info{container="a",gpu="2",namespace="lab",pod="shared",uuid="GPU-00000000-0000-0000-0000-000000000002"} 1
vramfit_gpu_allocation_info{container="b",gpu="2",namespace="lab",pod="shared",uuid="GPU-00000000-0000-0000-0000-000000000002"} 1
vramfit_gpu_allocation_info{container="c",gpu="",namespace="ml",pod="elsewhere",uuid="GPU-00000000-0000-0000-0000-0000000000ff"} 1
vramfit_gpu_allocation_info{container="jupyter",gpu="1",namespace="lab",pod="notebook",uuid="MIG-00000000-0000-0000-0000-000000000001"} 1
vramfit_gpu_allocation_info{container="server",gpu="0",namespace="ml",pod="vllm-0",uuid="GPU-00000000-0000-0000-0000-000000000000"} 1
vramfit_gpu_allocation_info{container="server",gpu="2",namespace="ml",pod="vllm-0",uuid="GPU-00000000-0000-0000-0000-000000000002"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "vramfit_gpu_allocation_info"))
	assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "pods": 1})

	// A pod that ended has no series at the next scrape.
	kubelet.SetPods(podresourcestest.Pod("lab", "notebook", "nvidia.com/mig-3g.40gb", map[string][]string{
		"jupyter": {"MIG-00000000-0000-0000-0000-000000000001"},
	}))
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(allocationHelp+`
vramfit_gpu_allocation_info{container="jupyter",gpu="1",namespace="lab",pod="notebook",uuid="MIG-00000000-0000-0000-0000-000000000001"} 1
`), "vramfit_gpu_allocation_info"))
}

// A kubelet that cannot be asked fails the pod collector alone.
func TestPodsFailAlone(t *testing.T) {
	t.Run("no socket", func(t *testing.T) {
		socket := t.TempDir() + "/kubelet.sock"
		c := New(fleetFrom(t, holdersFleet), loadedStore(t, testTargets), testTimeout, discard(),
			WithProcesses(8), WithPods(podresources.New(socket, testTimeout)))
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "processes": 1, "pods": 0})
		assert.Equal(t, 0, testutil.CollectAndCount(c, "vramfit_gpu_allocation_info"))
		assert.Equal(t, 5, testutil.CollectAndCount(c, "vramfit_gpu_process_memory_used_bytes"))
		_, err := os.Stat(socket)
		assert.ErrorIs(t, err, os.ErrNotExist, "the collector creates nothing")
	})
	t.Run("the kubelet hangs past the scrape timeout", func(t *testing.T) {
		kubelet := podresourcestest.Start(t)
		held := kubelet.Hold()
		// A short timeout, and a client allowed far longer: the scrape
		// must return at its own deadline while the kubelet still holds
		// the call (released below). The GPUs answer at once whatever the
		// deadline, so that only the kubelet can miss it.
		backend := &snapshots{}
		backend.set(nvml.Snapshot{Devices: []nvml.Device{h100(0, "GPU-00000000-0000-0000-0000-000000000000")}}, nil)
		c := New(backend, loadedStore(t, testTargets), 50*time.Millisecond, discard(),
			WithPods(podresources.New(kubelet.Socket, time.Hour)))
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "pods": 0})
		<-held
		kubelet.Release()
	})
}

// While NVML cannot be read, an allocated GPU keeps the gpu label it had.
func TestPodsWhileNVMLIsDown(t *testing.T) {
	const uuid = "GPU-00000000-0000-0000-0000-000000000003"
	backend := &snapshots{}
	backend.set(nvml.Snapshot{Devices: []nvml.Device{h100(3, uuid)}}, nil)
	c := New(backend, loadedStore(t, testTargets), testTimeout, discard(), WithPods(podsOf(allocation("ml", "p", "c", uuid))))
	want := allocationHelp + `vramfit_gpu_allocation_info{container="c",gpu="3",namespace="ml",pod="p",uuid="` + uuid + `"} 1
`
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "vramfit_gpu_allocation_info"))
	backend.set(nvml.Snapshot{}, errors.New("nvml unavailable: driver not loaded"))
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "vramfit_gpu_allocation_info"))
	assertScrapeSuccess(t, c, map[string]float64{"nvml": 0, "targets": 0, "pods": 1})
}
