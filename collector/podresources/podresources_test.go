package podresources_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	v1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/vramfit/vramfit/collector/podresources"
	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
)

// Every connection a call opens is closed by its end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 10 * time.Second

func TestList(t *testing.T) {
	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(
		podresourcestest.Pod("ml", "vllm-0", "nvidia.com/gpu", map[string][]string{
			"server": {"GPU-00000000-0000-0000-0000-000000000001", "GPU-00000000-0000-0000-0000-000000000002"},
		}),
		podresourcestest.Pod("lab", "notebook", "nvidia.com/mig-1g.10gb", map[string][]string{
			"jupyter": {"MIG-00000000-0000-0000-0000-000000000003"},
		}),
		// A pod with CPUs only lists no device.
		&v1.PodResources{Namespace: "kube-system", Name: "dns", Containers: []*v1.ContainerResources{{Name: "coredns", CpuIds: []int64{1}}}},
	)
	got, err := podresources.New(kubelet.Socket, timeout).List(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []podresources.Allocation{
		{Namespace: "ml", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu", DeviceID: "GPU-00000000-0000-0000-0000-000000000001"},
		{Namespace: "ml", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu", DeviceID: "GPU-00000000-0000-0000-0000-000000000002"},
		{Namespace: "lab", Pod: "notebook", Container: "jupyter", Resource: "nvidia.com/mig-1g.10gb", DeviceID: "MIG-00000000-0000-0000-0000-000000000003"},
	}, got)
}

func TestListFailures(t *testing.T) {
	t.Run("no socket", func(t *testing.T) {
		socket := filepath.Join(t.TempDir(), "kubelet.sock")
		_, err := podresources.New(socket, timeout).List(t.Context())
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Equal(t, "the kubelet's pod-resources socket: stat "+socket+": no such file or directory", err.Error())
	})
	t.Run("not a socket", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "kubelet.sock")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := podresources.New(file, timeout).List(t.Context())
		require.Error(t, err)
		assert.Equal(t, codes.Unavailable, status.Code(err), err.Error())
		assert.Contains(t, err.Error(), "listing the pod resources of the kubelet at "+file)
	})
	t.Run("the kubelet refuses", func(t *testing.T) {
		kubelet := podresourcestest.Start(t)
		kubelet.SetError(status.Error(codes.ResourceExhausted, "rejected by rate limit"))
		_, err := podresources.New(kubelet.Socket, timeout).List(t.Context())
		require.Error(t, err)
		assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	})
	t.Run("the kubelet hangs past the client's timeout", func(t *testing.T) {
		kubelet := podresourcestest.Start(t)
		kubelet.Hold()
		_, err := podresources.New(kubelet.Socket, 50*time.Millisecond).List(context.Background())
		require.Error(t, err)
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), err.Error())
	})
}

// Callers that come while a call is in flight join it: however many
// scrapes wait, the kubelet gets one call.
func TestListSharesTheCallInFlight(t *testing.T) {
	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(podresourcestest.Pod("ml", "p", "nvidia.com/gpu", map[string][]string{"c": {"GPU-00000000-0000-0000-0000-000000000001"}}))
	held := kubelet.Hold()
	client := podresources.New(kubelet.Socket, timeout)

	first := make(chan error, 1)
	go func() {
		_, err := client.List(context.Background())
		first <- err
	}()
	<-held // the first call is at the kubelet
	// Callers whose deadline has passed return at once, having joined
	// the call in flight rather than made their own.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for range 5 {
		_, err := client.List(gone)
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "the kubelet at "+kubelet.Socket+" has not answered")
	}
	assert.Equal(t, 1, kubelet.Calls())
	kubelet.Release()
	require.NoError(t, <-first)

	got, err := client.List(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.Equal(t, 2, kubelet.Calls(), "a call after the answer is a new call")
}

func TestDeviceUUID(t *testing.T) {
	for _, tc := range []struct {
		id, want string
		ok       bool
	}{
		{"GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b", "GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b", true},
		{"MIG-1d7c3c1e-9a41-5b0e-8f3e-6c2a9b7d4e10", "MIG-1d7c3c1e-9a41-5b0e-8f3e-6c2a9b7d4e10", true},
		{"GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b::3", "GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b", true},
		{"0", "0", false}, // the plugin's index strategy: not supported
		{"0000:3b:02.0", "0000:3b:02.0", false},
		{"", "", false},
	} {
		got, ok := podresources.DeviceUUID(tc.id)
		assert.Equal(t, tc.want, got, tc.id)
		assert.Equal(t, tc.ok, ok, tc.id)
	}
}

func TestGPUHolders(t *testing.T) {
	alloc := func(ns, pod, ctr, resource, id string) podresources.Allocation {
		return podresources.Allocation{Namespace: ns, Pod: pod, Container: ctr, Resource: resource, DeviceID: id}
	}
	got := podresources.GPUHolders([]podresources.Allocation{
		alloc("ml", "a", "c", "nvidia.com/gpu", "GPU-1::0"),
		alloc("net", "n", "nic", "intel.com/sriov", "0000:3b:02.0"),
		alloc("ml", "a", "c", "nvidia.com/gpu", "GPU-1::1"), // a second replica of the same GPU
		alloc("ml", "b", "c", "nvidia.com/gpu", "GPU-1::2"),
		alloc("ml", "a", "c", "nvidia.com/mig-1g.10gb", "MIG-2"),
	})
	assert.Equal(t, []podresources.Holder{
		{UUID: "GPU-1", Namespace: "ml", Pod: "a", Container: "c"},
		{UUID: "GPU-1", Namespace: "ml", Pod: "b", Container: "c"},
		{UUID: "MIG-2", Namespace: "ml", Pod: "a", Container: "c"},
	}, got)
	assert.Equal(t, map[string][]podresources.Holder{"GPU-1": got[:2], "MIG-2": got[2:]},
		podresources.ByDevice([]podresources.Allocation{
			alloc("ml", "a", "c", "nvidia.com/gpu", "GPU-1::0"),
			alloc("ml", "b", "c", "nvidia.com/gpu", "GPU-1::2"),
			alloc("ml", "a", "c", "nvidia.com/mig-1g.10gb", "MIG-2"),
		}))
}
