package collector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// holdersFleet has a GPU with four processes, a GPU in MIG mode whose
// instances hold the processes, and an idle GPU.
const holdersFleet = `
gpus:
  - board: h100-sxm5-80gb
    uuid: GPU-00000000-0000-0000-0000-000000000000
    processes:
      - {pid: 300, name: python3, memory: 2GiB}
      - {pid: 100, name: vllm, memory: 40GiB}
      - {pid: 400, name: jupyter, memory: 1GiB}
      - {pid: 200, name: python3, memory: 10GiB}
  - board: a100-sxm4-80gb
    uuid: GPU-00000000-0000-0000-0000-0000000000a0
    mig_mode: enabled
    mig_instances:
      - {profile: 3g.40gb, uuid: MIG-00000000-0000-0000-0000-000000000001, processes: [{pid: 500, name: torchrun, memory: 30GiB}]}
      - {profile: 1g.10gb, uuid: MIG-00000000-0000-0000-0000-000000000002}
  - {board: rtx-4090, uuid: GPU-00000000-0000-0000-0000-000000000002}
`

const processHelp = `# HELP vramfit_gpu_process_memory_used_bytes Memory a process holds on a GPU or MIG instance, as NVML lists it: each device's largest processes, the rest summed in pid="other". process is the command name, empty where the agent cannot see the host's processes.
# TYPE vramfit_gpu_process_memory_used_bytes gauge
`

// The top two processes of each device, the rest in pid="other"; a MIG
// instance's processes under its own UUID; nothing for idle devices.
func TestCollectProcesses(t *testing.T) {
	c := New(fleetFrom(t, holdersFleet), loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(2))
	want := processHelp + `
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="100",process="vllm",uuid="GPU-00000000-0000-0000-0000-000000000000"} 4.294967296e+10
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="200",process="python3",uuid="GPU-00000000-0000-0000-0000-000000000000"} 1.073741824e+10
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="other",process="other",uuid="GPU-00000000-0000-0000-0000-000000000000"} 3.221225472e+09
vramfit_gpu_process_memory_used_bytes{gpu="1",pid="500",process="torchrun",uuid="MIG-00000000-0000-0000-0000-000000000001"} 3.221225472e+10
`
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "vramfit_gpu_process_memory_used_bytes"))
	assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "processes": 1})

	t.Run("no other below the limit", func(t *testing.T) {
		c := New(fleetFrom(t, holdersFleet), loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(4))
		assert.Equal(t, 5, testutil.CollectAndCount(c, "vramfit_gpu_process_memory_used_bytes"))
	})
}

// snapshots is a backend that serves the snapshots a test sets, as a
// driver whose processes come and go.
type snapshots struct {
	mu   sync.Mutex
	snap nvml.Snapshot
	err  error
}

func (s *snapshots) set(snap nvml.Snapshot, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap, s.err = snap, err
}

func (s *snapshots) Snapshot(context.Context) (nvml.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, s.err
}

func (s *snapshots) Close() error { return nil }

func h100(index int, uuid string, processes ...nvml.Process) nvml.Device {
	return nvml.Device{Index: index, UUID: uuid, Name: h100Name,
		Memory:    nvml.Memory{Total: 80 * gib, Used: 10 * gib, Free: 70 * gib},
		Processes: processes}
}

// A process that ended has no series at the next scrape, and one that
// started has.
func TestProcessesComeAndGo(t *testing.T) {
	const uuid = "GPU-00000000-0000-0000-0000-000000000000"
	backend := &snapshots{}
	c := New(backend, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
	backend.set(nvml.Snapshot{Devices: []nvml.Device{h100(0, uuid,
		nvml.Process{PID: 1, Name: "a", MemoryUsed: gib, MemoryKnown: true},
		nvml.Process{PID: 2, Name: "b", MemoryUsed: gib, MemoryKnown: true})}}, nil)
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(processHelp+`
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="1",process="a",uuid="`+uuid+`"} 1.073741824e+09
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="2",process="b",uuid="`+uuid+`"} 1.073741824e+09
`), "vramfit_gpu_process_memory_used_bytes"))

	backend.set(nvml.Snapshot{Devices: []nvml.Device{h100(0, uuid,
		nvml.Process{PID: 3, Name: "", MemoryUsed: 2 * gib, MemoryKnown: true},
		nvml.Process{PID: 2, Name: "b", MemoryUsed: gib, MemoryKnown: true},
		nvml.Process{PID: 4, Name: "d"})}}, nil) // NVML cannot size 4: no series
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(processHelp+`
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="2",process="b",uuid="`+uuid+`"} 1.073741824e+09
vramfit_gpu_process_memory_used_bytes{gpu="0",pid="3",process="",uuid="`+uuid+`"} 2.147483648e+09
`), "vramfit_gpu_process_memory_used_bytes"))
}

// A device whose processes cannot be listed fails the process collector
// alone: the GPUs, the targets and the other devices' processes are
// exported.
func TestProcessesFailAlone(t *testing.T) {
	t.Run("one device cannot list its processes", func(t *testing.T) {
		backend := &snapshots{}
		bad := h100(1, "GPU-00000000-0000-0000-0000-000000000001")
		bad.ProcessesErr = errors.New("gpu 1: list compute processes: Insufficient Permissions")
		backend.set(nvml.Snapshot{Devices: []nvml.Device{
			h100(0, "GPU-00000000-0000-0000-0000-000000000000", nvml.Process{PID: 1, Name: "a", MemoryUsed: gib, MemoryKnown: true}),
			bad,
		}}, nil)
		c := New(backend, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "processes": 0})
		assert.Equal(t, 1, testutil.CollectAndCount(c, "vramfit_gpu_process_memory_used_bytes"))
		assert.Equal(t, 2, testutil.CollectAndCount(c, "vramfit_gpu_memory_total_bytes"))
	})
	t.Run("NVML unavailable", func(t *testing.T) {
		fake := fleetFrom(t, "gpus: [{board: rtx-4090}]\nfaults: {unavailable: \"driver not loaded\"}\n")
		c := New(fake, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 0, "targets": 0, "processes": 0})
		assert.Equal(t, 0, testutil.CollectAndCount(c, "vramfit_gpu_process_memory_used_bytes"))
	})
	t.Run("a lost GPU lists nothing, and is the nvml collector's failure", func(t *testing.T) {
		fake := fleetFrom(t, holdersFleet)
		fake.SetFaults(nvml.Faults{Lost: []nvml.LostGPU{{GPU: 0}}})
		c := New(fake, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
		assertScrapeSuccess(t, c, map[string]float64{"nvml": 1, "targets": 1, "processes": 1})
		assert.Equal(t, 1, testutil.CollectAndCount(c, "vramfit_gpu_process_memory_used_bytes"), "the MIG instance's process only")
	})
}

// The processes come from the scrape's one snapshot: a scrape with the
// process collector makes the driver calls of one snapshot, no more.
func TestProcessesShareTheScrapesSnapshot(t *testing.T) {
	fleet, err := nvml.ParseFleet("test.yml", []byte(holdersFleet))
	require.NoError(t, err)
	scraped, read := nvml.NewFake(fleet), nvml.NewFake(fleet)
	defer scraped.Close()
	defer read.Close()
	c := New(scraped, loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(8))
	testutil.CollectAndCount(c)
	_, err = read.Snapshot(t.Context())
	require.NoError(t, err)
	assert.Equal(t, read.Calls(), scraped.Calls())
}

// Every family passes the linter, and the pedantic registry finds every
// family described, with both opt-in collectors on.
func TestLintHolders(t *testing.T) {
	lister := podsOf(allocation("ml", "vllm-0", "server", "GPU-00000000-0000-0000-0000-000000000000"))
	c := New(fleetFrom(t, holdersFleet), loadedStore(t, testTargets), testTimeout, discard(), WithProcesses(2), WithPods(lister))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c, versioncollector.NewCollector("vramfit"))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.Equal(t, 1, testutil.CollectAndCount(c, "vramfit_gpu_allocation_info"))
}
