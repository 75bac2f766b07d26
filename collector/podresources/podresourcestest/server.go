// Package podresourcestest runs a kubelet's pod-resources v1 API on a unix
// socket for tests: the real gRPC service, answering what the test sets.
package podresourcestest

import (
	"context"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	v1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Server is a kubelet serving the pod-resources API.
type Server struct {
	v1.UnimplementedPodResourcesListerServer
	// Socket is the unix socket it listens on.
	Socket string

	mu    sync.Mutex
	pods  []*v1.PodResources
	err   error
	calls int
	hold  chan struct{} // while set, List waits for it to close
	held  chan struct{} // receives a value when a List starts waiting
}

// Start serves on a socket in a directory of t's, until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Socket: filepath.Join(t.TempDir(), "kubelet.sock")}
	lis, err := net.Listen("unix", s.Socket)
	if err != nil {
		t.Fatalf("listening on %s: %v", s.Socket, err)
	}
	srv := grpc.NewServer()
	v1.RegisterPodResourcesListerServer(srv, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Release()
		srv.Stop()
		<-done
	})
	return s
}

// SetPods sets what List answers.
func (s *Server) SetPods(pods ...*v1.PodResources) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods = pods
}

// SetError makes List fail with err (a gRPC status error) until cleared
// with nil.
func (s *Server) SetError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Hold makes every later List wait until Release; the channel returned
// receives a value as each starts waiting.
func (s *Server) Hold() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold, s.held = make(chan struct{}), make(chan struct{}, 16)
	return s.held
}

// Release lets the held calls answer.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Calls counts the List calls received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// List implements the kubelet's PodResourcesLister.
func (s *Server) List(ctx context.Context, _ *v1.ListPodResourcesRequest) (*v1.ListPodResourcesResponse, error) {
	s.mu.Lock()
	s.calls++
	hold, held := s.hold, s.held
	s.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return &v1.ListPodResourcesResponse{PodResources: s.pods}, nil
}

// Pod is a pod whose containers each hold the devices of one resource:
// containers maps a container's name to its device IDs.
func Pod(namespace, name, resource string, containers map[string][]string) *v1.PodResources {
	p := &v1.PodResources{Namespace: namespace, Name: name}
	for _, c := range slices.Sorted(maps.Keys(containers)) {
		p.Containers = append(p.Containers, &v1.ContainerResources{Name: c,
			Devices: []*v1.ContainerDevices{{ResourceName: resource, DeviceIds: containers[c]}}})
	}
	return p
}
