package nvml

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFakeProcesses(t *testing.T) {
	const mib = 1 << 20
	b, err := Open(Config{Fake: "mig-a100", Processes: true}, nil)
	require.NoError(t, err)
	defer b.Close()
	s, err := b.Snapshot(t.Context())
	require.NoError(t, err)
	require.Len(t, s.Devices, 6)
	assert.Nil(t, s.Devices[0].Processes, "a GPU in MIG mode: its instances hold the processes")
	assert.Equal(t, []Process{{PID: 6110, Name: "vllm", MemoryUsed: 36172 * mib, MemoryKnown: true}}, s.Devices[1].Processes)
	assert.Empty(t, s.Devices[4].Processes, "an idle instance")
	assert.Equal(t, []Process{{PID: 7020, Name: "python3", MemoryUsed: 61440 * mib, MemoryKnown: true}}, s.Devices[5].Processes)

	// Off unless asked for: the same fleet without processes.
	off, err := Open(Config{Fake: "mig-a100"}, nil)
	require.NoError(t, err)
	defer off.Close()
	s, err = off.Snapshot(t.Context())
	require.NoError(t, err)
	for _, d := range s.Devices {
		assert.Nil(t, d.Processes, d.UUID)
	}
}

func TestFakeProcessesCostDriverCalls(t *testing.T) {
	fleet, err := ParseFleet("f.yml", []byte("gpus: [{board: a100-sxm4-80gb, mig_mode: enabled, mig_instances: [{profile: 3g.40gb}, {profile: 3g.40gb}]}, {board: rtx-4090}]"))
	require.NoError(t, err)
	calls := func(processes bool) uint64 {
		f := NewFake(fleet)
		f.processes = processes
		_, err := f.Snapshot(t.Context())
		require.NoError(t, err)
		return f.Calls()
	}
	// Two lists (compute, graphics) for each instance and the whole GPU;
	// none for the GPU in MIG mode.
	assert.Equal(t, calls(false)+3*fakeCallsPerProcessList, calls(true))
}

func TestFakeProcessesOfALostGPU(t *testing.T) {
	f, err := OpenFake("dgx-h100")
	require.NoError(t, err)
	defer f.Close()
	f.SetFaults(Faults{Lost: []LostGPU{{GPU: 0}}, Garbage: []int{1}})
	s, err := f.Snapshot(t.Context())
	require.NoError(t, err)
	assert.Nil(t, s.Devices[0].Processes, "a lost GPU lists nothing")
	assert.Nil(t, s.Devices[1].Processes, "nor one whose memory reading is nonsense")
	assert.Len(t, s.Devices[2].Processes, 1)
}

func TestSortProcesses(t *testing.T) {
	ps := []Process{
		{PID: 9, MemoryUsed: 1, MemoryKnown: true},
		{PID: 3},
		{PID: 5, MemoryUsed: 7, MemoryKnown: true},
		{PID: 2, MemoryUsed: 7, MemoryKnown: true},
		{PID: 1},
	}
	sortProcesses(ps)
	var pids []uint32
	for _, p := range ps {
		pids = append(pids, p.PID)
	}
	assert.Equal(t, []uint32{2, 5, 9, 1, 3}, pids, "largest first, equal by PID, unsized last")
}

func TestCommandName(t *testing.T) {
	root := t.TempDir()
	write := func(pid, comm string) {
		require.NoError(t, os.MkdirAll(filepath.Join(root, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, pid, "comm"), []byte(comm), 0o644))
	}
	write("4242", "python3\n")
	write("17", "evil\x1b[31m\n")
	write("18", "caf\xe9\n")
	for _, tc := range []struct {
		name string
		pid  uint32
		want string
	}{
		{"as the kernel writes it", 4242, "python3"},
		{"not visible here (no hostPID)", 31337, ""},
		{"control characters are not a name", 17, ""},
		{"bytes that are not UTF-8 are replaced", 18, "caf\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, commandName(root, tc.pid))
		})
	}
	// This test's own process is visible where /proc is.
	if _, err := os.Stat(procRoot); err == nil {
		assert.NotEmpty(t, commandName(procRoot, uint32(os.Getpid())))
	}
}
