package collector

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// The status page lists each device's holders when a holder collector is
// on: every process (not only the top N), and the pods.
func TestStatusPageHolders(t *testing.T) {
	fleet := holdersFleet + `  - {board: rtx-4090, processes: [{pid: 600, name: "<script>alert", memory: 1GiB}]}
`
	t.Run("off", func(t *testing.T) {
		c := New(fleetFrom(t, fleet), loadedStore(t, testTargets), testTimeout, discard())
		body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
		assert.NotContains(t, body, "Held by")
		assert.NotContains(t, body, "pid 100")
	})
	t.Run("on", func(t *testing.T) {
		pods := podsOf(allocation("ml", "vllm-0", "server", "GPU-00000000-0000-0000-0000-000000000000"),
			allocation("lab", "nb", "jupyter", "MIG-00000000-0000-0000-0000-000000000001"))
		c := New(fleetFrom(t, fleet), loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(1), WithPods(pods))
		body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
		for _, want := range []string{
			"<th>Held by</th>",
			"<td>vllm (pid 100): 40.00 GiB<br>python3 (pid 200): 10.00 GiB<br>python3 (pid 300): 2.00 GiB<br>jupyter (pid 400): 1.00 GiB<br>pod ml/vllm-0, container server<br></td>",
			"<td>torchrun (pid 500): 30.00 GiB<br>pod lab/nb, container jupyter<br></td>",
			`<td><span class="muted">none</span></td>`,
			"&lt;script&gt;alert (pid 600)",
		} {
			assert.Contains(t, body, want)
		}
		assert.NotContains(t, body, "<script>")
		// The idle 1g.10gb instance and RTX 4090 hold nothing; GPU 1, in
		// MIG mode, says nothing of its own: its instances list them.
		assert.Equal(t, 2, strings.Count(body, `<span class="muted">none</span>`))
	})
	t.Run("a GPU down lists no processes", func(t *testing.T) {
		fake := fleetFrom(t, fleet)
		fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 0}}})
		c := New(fake, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
		body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
		assert.NotContains(t, body, "pid 100")
		assert.Contains(t, body, "torchrun (pid 500)")
		assert.Equal(t, 2, strings.Count(body, `<span class="muted">none</span>`), "the lost GPU's cell is empty")
	})
	t.Run("the kubelet cannot be asked", func(t *testing.T) {
		pods := &stubPods{err: errors.New("the kubelet's pod-resources socket: no such file or directory")}
		c := New(fleetFrom(t, fleet), loadedStore(t, testTargets), testTimeout, discard(), WithPods(pods))
		body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
		assert.Contains(t, body, `<p class="alert">The pods cannot be listed: the kubelet&#39;s pod-resources socket: no such file or directory</p>`)
		assert.Contains(t, body, "<th>Held by</th>")
	})
}

// /api/v1/inventory gives each device its processes and pods where their
// collectors are on; the keys are absent where they are off.
func TestInventoryAPIHolders(t *testing.T) {
	get := func(t *testing.T, c *Collector) (nvml.Inventory, []map[string]json.RawMessage) {
		rec := serveOnce(t, c.InventoryHandler(), http.MethodGet, "/api/v1/inventory")
		require.Equal(t, http.StatusOK, rec.Code)
		var inv nvml.Inventory
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &inv))
		var raw struct {
			Devices []map[string]json.RawMessage `json:"devices"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
		return inv, raw.Devices
	}
	t.Run("off", func(t *testing.T) {
		backend, err := nvml.Open(nvml.Config{Fake: "mig-a100"}, nil)
		require.NoError(t, err)
		defer backend.Close()
		_, devices := get(t, New(backend, loadedStore(t, testTargets), testTimeout, discard()))
		assert.NotContains(t, devices[1], "processes")
		assert.NotContains(t, devices[1], "pods")
	})
	t.Run("on", func(t *testing.T) {
		backend, err := nvml.Open(nvml.Config{Fake: "mig-a100", Processes: true}, nil)
		require.NoError(t, err)
		defer backend.Close()
		snap, err := backend.Snapshot(t.Context())
		require.NoError(t, err)
		pods := podsOf(allocation("ml", "train", "trainer", snap.Devices[5].UUID))
		inv, devices := get(t, New(backend, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8), WithPods(pods)))
		used := uint64(61440 << 20)
		assert.Equal(t, []nvml.InventoryProcess{{PID: 7020, Name: "python3", MemoryUsedBytes: &used}}, inv.Devices[1].Processes)
		assert.Equal(t, []nvml.InventoryPod{{Namespace: "ml", Pod: "train", Container: "trainer"}}, inv.Devices[1].Pods)
		assert.NotContains(t, devices[0], "processes", "a GPU in MIG mode: its instances list them")
		assert.JSONEq(t, `[]`, string(devices[0]["pods"]))
		assert.Equal(t, uint32(6110), inv.Devices[0].MIGInstances[0].Processes[0].PID)
		assert.Equal(t, []nvml.InventoryPod{}, inv.Devices[0].MIGInstances[0].Pods)
		assert.Empty(t, inv.PodsError)
	})
	t.Run("the kubelet cannot be asked", func(t *testing.T) {
		pods := &stubPods{err: errors.New("kubelet down")}
		inv, devices := get(t, New(openFleet(t, "mig-a100"), loadedStore(t, testTargets), testTimeout, discard(), WithPods(pods)))
		assert.Equal(t, "kubelet down", inv.PodsError)
		assert.NotContains(t, devices[1], "pods")
	})
}
