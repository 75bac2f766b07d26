// Package podresources asks the kubelet which containers were given which
// devices, through its pod-resources v1 API (gRPC on a unix socket), with
// the client Kubernetes generates for it.
package podresources

import (
	"context"
	"fmt"
	"os"
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
	defer conn.Close()
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
