// Package podresources asks the kubelet which containers were given which
// devices, through its pod-resources v1 API (gRPC on a unix socket), with
// the client Kubernetes generates for it.
package podresources

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	v1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultSocket is where the kubelet serves the API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// maxMessageSize bounds an answer: a node's every pod with every device
// and CPU fits well within it (the kubelet's own clients allow the same).
const maxMessageSize = 16 << 20

// Allocation is one device the kubelet gave one container.
type Allocation struct {
	Namespace, Pod, Container string
	// Resource is the extended resource: "nvidia.com/gpu",
	// "nvidia.com/mig-1g.10gb".
	Resource string
	// DeviceID is the device as its plugin names it: NVIDIA's names a
	// GPU or MIG instance by its UUID, with "::N" appended for each
	// time-sliced replica.
	DeviceID string
}

// Client lists the kubelet's allocations. Concurrent callers share one
// call in flight, so that scrapes in parallel never multiply calls into
// the kubelet.
type Client struct {
	socket  string
	timeout time.Duration
	group   singleflight.Group
}

// New returns a client of the kubelet listening on socket. A call that
// takes longer than timeout fails.
func New(socket string, timeout time.Duration) *Client {
	return &Client{socket: socket, timeout: timeout}
}

// Socket is the socket the client asks.
func (c *Client) Socket() string { return c.socket }

// List returns every device allocated to a container, in the kubelet's
// order. It returns at ctx's end; the call it shares then finishes alone,
// within the client's timeout.
func (c *Client) List(ctx context.Context) ([]Allocation, error) {
	ch := c.group.DoChan("list", func() (any, error) { return c.list() })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]Allocation), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("the kubelet at %s has not answered: %w", c.socket, ctx.Err())
	}
}

// list makes one call on a connection of its own: the kubelet restarts
// and recreates its socket, and a fresh connection follows it at once
// where a kept one would wait out gRPC's reconnection backoff.
func (c *Client) list() ([]Allocation, error) {
	// Stat first: gRPC's dial error hides a missing socket in its text.
	if _, err := os.Stat(c.socket); err != nil {
		return nil, fmt.Errorf("the kubelet's pod-resources socket: %w", err)
	}
	conn, err := grpc.NewClient("unix:"+c.socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("the kubelet's pod-resources socket %s: %w", c.socket, err)
	}
	// Closing ends the connection's goroutines; an error there leaves
	// nothing to undo.
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	resp, err := v1.NewPodResourcesListerClient(conn).List(ctx, &v1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing the pod resources of the kubelet at %s: %w", c.socket, err)
	}
	var out []Allocation
	for _, pod := range resp.GetPodResources() {
		for _, ctr := range pod.GetContainers() {
			for _, dev := range ctr.GetDevices() {
				for _, id := range dev.GetDeviceIds() {
					out = append(out, Allocation{Namespace: pod.GetNamespace(), Pod: pod.GetName(),
						Container: ctr.GetName(), Resource: dev.GetResourceName(), DeviceID: id})
				}
			}
		}
	}
	return out, nil
}

// Holder is a container holding a GPU or MIG instance.
type Holder struct {
	UUID, Namespace, Pod, Container string
}

// GPUHolders are the allocations of GPUs and MIG instances, each
// container once per device (time-sliced replicas are one device), in the
// kubelet's order.
func GPUHolders(allocations []Allocation) []Holder {
	var out []Holder
	seen := map[Holder]bool{}
	for _, a := range allocations {
		uuid, ok := DeviceUUID(a.DeviceID)
		if !ok {
			continue
		}
		h := Holder{uuid, a.Namespace, a.Pod, a.Container}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// ByDevice groups the GPU holders of allocations by device UUID.
func ByDevice(allocations []Allocation) map[string][]Holder {
	out := map[string][]Holder{}
	for _, h := range GPUHolders(allocations) {
		out[h.UUID] = append(out[h.UUID], h)
	}
	return out
}

// DeviceUUID is the GPU or MIG UUID in a device plugin's device ID, and
// whether there is one. NVIDIA's plugin names time-sliced replicas
// "GPU-…::0", "GPU-…::1"; other plugins' devices are not GPUs.
func DeviceUUID(id string) (string, bool) {
	id, _, _ = strings.Cut(id, "::")
	return id, strings.HasPrefix(id, "GPU-") || strings.HasPrefix(id, "MIG-")
}
