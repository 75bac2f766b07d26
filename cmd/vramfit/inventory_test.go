package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

func runInventory(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(append([]string{"inventory"}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestInventoryJSON(t *testing.T) {
	status, stdout, stderr := runInventory(t, "--nvml.fake=dgx-h100", "--output", "json")
	require.Equal(t, 0, status, stderr)
	var inv nvml.Inventory
	require.NoError(t, json.Unmarshal([]byte(stdout), &inv))
	assert.Equal(t, "550.54.15", inv.DriverVersion)
	assert.Equal(t, "12.4", inv.CUDADriverVersion)
	require.Len(t, inv.Devices, 8)
	const mib = 1 << 20
	for i, d := range inv.Devices {
		assert.Equal(t, i, d.Index)
		assert.Equal(t, "NVIDIA H100 80GB HBM3", d.Name)
		// 81559 MiB: an H100 SXM5's total as nvidia-smi prints it
		// (NVIDIA/nccl#1264, modal-labs/modal-client#2797).
		assert.Equal(t, uint64(81559*mib), *d.MemoryTotalBytes)
		assert.Equal(t, *d.MemoryTotalBytes, *d.MemoryUsedBytes+*d.MemoryFreeBytes+*d.MemoryReservedBytes)
		assert.Nil(t, d.Error)
		assert.Empty(t, d.MIGInstances)
	}
	// GPU 0 runs one process of 72790 MiB in the fleet file.
	assert.Equal(t, uint64(72790*mib), *inv.Devices[0].MemoryUsedBytes)
	assert.Equal(t, uint64(0), *inv.Devices[7].MemoryUsedBytes, "GPU 7 is idle")
}

// The JSON keys are the ones DESIGN.md § Interfaces lists.
func TestInventoryJSONKeys(t *testing.T) {
	status, stdout, stderr := runInventory(t, "--nvml.fake=mig-a100", "--output=json")
	require.Equal(t, 0, status, stderr)
	var doc struct {
		Devices []map[string]json.RawMessage `json:"devices"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(stdout), &top))
	assert.ElementsMatch(t, []string{"driver_version", "cuda_driver_version", "nvml_version", "devices"}, keys(top))
	device := []string{"index", "uuid", "name", "pci_bus_id", "compute_capability", "memory_total_bytes",
		"memory_used_bytes", "memory_free_bytes", "memory_reserved_bytes", "mig_mode", "error"}
	require.Len(t, doc.Devices, 2)
	assert.ElementsMatch(t, append(device, "mig_instances"), keys(doc.Devices[0]))
	var migs []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc.Devices[0]["mig_instances"], &migs))
	require.Len(t, migs, 4, "the MIG host's GPU 0 holds four instances")
	assert.ElementsMatch(t, append(device, "parent_uuid", "mig_profile"), keys(migs[0]))
	assert.JSONEq(t, string(doc.Devices[0]["uuid"]), string(migs[0]["parent_uuid"]))
	assert.JSONEq(t, `"3g.40gb"`, string(migs[0]["mig_profile"]))
	assert.JSONEq(t, `[]`, string(doc.Devices[1]["mig_instances"]), "a GPU without MIG instances has an empty list")
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestInventoryTable(t *testing.T) {
	status, stdout, stderr := runInventory(t, "--nvml.fake=mig-a100")
	require.Equal(t, 0, status, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 9, "versions, blank line, header, 2 GPUs and 4 MIG instances:\n%s", stdout)
	assert.Equal(t, "Driver 535.183.01, CUDA 12.2, NVML 12.535.183.01", lines[0])
	assert.Regexp(t, `^GPU +NAME +UUID +PCI BUS ID +MIG +TOTAL MiB +USED MiB +FREE MiB +RESERVED MiB$`, lines[2])
	// 81920 MiB: an A100 80GB's total as nvidia-smi prints it
	// (modal-labs/modal-client#2797); 40192 MiB: a 3g.40gb instance
	// (go-nvml's A100 80GB profile table).
	assert.Regexp(t, `^0 +NVIDIA A100-SXM4-80GB +GPU-\S+ +00000000:18:00\.0 +enabled +81920 `, lines[3])
	assert.Regexp(t, `^0/0 +MIG 3g\.40gb +MIG-\S+ +00000000:18:00\.0 +40192 +36172 `, lines[4])
	assert.Regexp(t, `^1 +NVIDIA A100-SXM4-80GB .* disabled +81920 +61440 `, lines[8])
}

func TestInventoryLostGPU(t *testing.T) {
	fleet := filepath.Join("..", "..", "testdata", "fleets", "lost-gpu.yml")
	status, stdout, stderr := runInventory(t, "--nvml.fake="+fleet, "--output=json")
	require.Equal(t, 0, status, "a GPU down is reported, not a failure: %s", stderr)
	var inv nvml.Inventory
	require.NoError(t, json.Unmarshal([]byte(stdout), &inv))
	require.Len(t, inv.Devices, 2)
	assert.Nil(t, inv.Devices[0].Error)
	require.NotNil(t, inv.Devices[1].Error)
	assert.Contains(t, *inv.Devices[1].Error, "gpu is lost")
	assert.Nil(t, inv.Devices[1].MemoryTotalBytes, "a lost GPU has no memory reading")

	status, stdout, _ = runInventory(t, "--nvml.fake="+fleet)
	require.Equal(t, 0, status)
	assert.Regexp(t, `(?m)^1 +NVIDIA H100 80GB HBM3 +GPU-\S+ +00000000:2A:00\.0 +disabled +down: gpu 1: gpu is lost$`, stdout)
}

func TestInventoryWithoutDriver(t *testing.T) {
	// A library path that cannot exist stands for a host without the
	// driver, whatever this host has.
	missing := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	status, stdout, stderr := runInventory(t, "--nvml.library-path="+missing)
	assert.Equal(t, 1, status)
	assert.Empty(t, stdout)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	assert.True(t, strings.HasPrefix(stderr, "vramfit inventory: NVML could not be loaded: "), stderr)
	assert.True(t, strings.HasSuffix(stderr, "; try --nvml.fake=dgx-h100\n"), stderr)
}

func TestInventoryErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"fake without a library", []string{"--nvml.fake=" + filepath.Join("..", "..", "testdata", "fleets", "no-library.yml")}, 1,
			"vramfit inventory: NVML could not be loaded: libnvidia-ml.so.1: cannot open shared object file: No such file or directory\n"},
		{"unknown fleet", []string{"--nvml.fake=dgx-z9"}, 1,
			"vramfit inventory: fake fleet \"dgx-z9\" is neither a built-in fleet (dgx-a100, dgx-h100, h200, mig-a100, rtx4090x2) nor a readable fleet file: open dgx-z9: no such file or directory\n"},
		{"hung driver", []string{"--nvml.fake=" + filepath.Join("..", "..", "testdata", "fleets", "slow-driver.yml"), "--nvml.timeout=10ms"}, 1,
			"vramfit inventory: the driver did not answer within 10ms (--nvml.timeout)\n"},
		{"no timeout", []string{"--nvml.fake=h200", "--nvml.timeout=0s"}, 2,
			"vramfit inventory: --nvml.timeout=0s: want a positive duration such as 30s\n"},
		{"bad output", []string{"--nvml.fake=h200", "--output=yaml"}, 2,
			"vramfit: error: enum value must be one of table,json, got 'yaml', try --help\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := runInventory(t, tc.args...)
			assert.Equal(t, tc.status, status)
			assert.Empty(t, stdout)
			assert.Equal(t, tc.stderr, stderr)
		})
	}
}
