package nvml

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFleetErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "f.yml: the fleet file is empty; it needs at least a gpus list"},
		{"syntax", "gpus: [", "f.yml:1: did not find expected node content"},
		{"unknown top-level field", "gpu: []", "f.yml:1: gpu: unknown field; valid fields are cuda_driver_version, driver_version, faults, gpus, memory_v1_only, nvml_version"},
		{"unknown GPU field", "gpus:\n  - board: rtx-4090\n    colour: red", "f.yml:3: gpus[0].colour: unknown field; valid fields are board, compute_capability, count, memory_reserved, memory_total, memory_used, mig_instances, mig_mode, name, pci_bus_id, power_watts, processes, temperature_celsius, utilization, uuid"},
		{"wrong type", "gpus:\n  - {board: rtx-4090, count: many}", "f.yml:2: gpus[0].count: \"many\" is not a whole number"},
		{"not a list", "gpus: {board: rtx-4090}", "f.yml:1: gpus: must be a list"},
		{"unknown board", "gpus: [{board: rtx-5090}]", "f.yml:1: gpus[0].board: unknown board \"rtx-5090\"; known boards are a100-sxm4-40gb, a100-sxm4-80gb, h100-sxm5-80gb, h200-sxm5-141gb, rtx-4090"},
		{"no board, no name", "gpus: [{memory_total: 8GiB}]", "f.yml:1: gpus[0]: set a board (a100-sxm4-40gb, a100-sxm4-80gb, h100-sxm5-80gb, h200-sxm5-141gb, rtx-4090) or a name"},
		{"bad size", "gpus: [{board: rtx-4090, memory_used: 3 apples}]", `f.yml:1: gpus[0].memory_used: size "3 apples": unknown unit "apples"; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)`},
		{"huge size", "gpus: [{board: rtx-4090, memory_used: 2000000TiB}]", "f.yml:1: gpus[0].memory_used: \"2000000TiB\" is above the largest memory size allowed, 1PiB"},
		{"used above total", "gpus: [{board: rtx-4090, memory_used: 24GiB}]", "f.yml:1: gpus[0]: used 25769803776 bytes and reserved 349175808 bytes exceed the total 25757220864 bytes"},
		{"used and processes", "gpus:\n- board: rtx-4090\n  memory_used: 1GiB\n  processes: [{pid: 1, name: x, memory: 1GiB}]", "f.yml:2: gpus[0]: set memory_used or processes, not both: the processes' memory adds up to what is used"},
		{"bad pid", "gpus:\n- board: rtx-4090\n  processes:\n  - {pid: 0, name: x, memory: 1GiB}", "f.yml:4: gpus[0].processes[0].pid: 0 is not a process id above 0"},
		{"command line as a name", "gpus:\n- board: rtx-4090\n  processes:\n  - {pid: 7, name: \"python3 train.py\", memory: 1GiB}", `f.yml:4: gpus[0].processes[0].name: "python3 train.py" is 16 bytes; a command name as the kernel keeps it (/proc/PID/comm, what the real backend reports) has at most 15, such as "vllm" or "python3"`},
		{"pid twice", "gpus:\n- board: rtx-4090\n  processes:\n  - {pid: 7, name: x, memory: 1GiB}\n  - {pid: 7, name: y, memory: 1GiB}", "f.yml:5: gpus[0].processes[1].pid: process 7 is listed twice on this device"},
		{"utilisation as percent", "gpus: [{board: rtx-4090, utilization: 85}]", "f.yml:1: gpus[0].utilization: 85 is outside 0 to 1"},
		{"NaN temperature", "gpus: [{board: rtx-4090, temperature_celsius: .nan}]", "f.yml:1: gpus[0].temperature_celsius: NaN is outside -40 to 150"},
		{"uuid with count", "gpus: [{board: rtx-4090, count: 2, uuid: GPU-00000000-0000-0000-0000-000000000000}]", "f.yml:1: gpus[0]: uuid and pci_bus_id name one GPU: set them only where count is 1"},
		{"bad uuid", "gpus: [{board: rtx-4090, uuid: gpu-1}]", "f.yml:1: gpus[0].uuid: \"gpu-1\" is not a GPU UUID such as GPU-8f6b3ab6-5d22-4c5a-9e1c-0c0e3f3f1a2b"},
		{"duplicate uuid", "gpus:\n- {board: rtx-4090, uuid: GPU-00000000-0000-0000-0000-000000000000}\n- {board: rtx-4090, uuid: GPU-00000000-0000-0000-0000-000000000000}", "f.yml:3: gpus[1]: uuid GPU-00000000-0000-0000-0000-000000000000 or pci_bus_id 00000000:2A:00.0 is already taken by another GPU"},
		{"too many GPUs", "gpus: [{board: rtx-4090, count: 257}]", "f.yml:1: gpus[0].count: 257 GPUs: a fleet holds 1 to 256 GPUs in all"},
		{"MIG on a GeForce", "gpus: [{board: rtx-4090, mig_mode: enabled}]", "f.yml:1: gpus[0].mig_mode: board rtx-4090 cannot do MIG; leave mig_mode out"},
		{"instances without MIG mode", "gpus: [{board: a100-sxm4-80gb, mig_instances: [{profile: 7g.80gb}]}]", "f.yml:1: gpus[0].mig_instances: need mig_mode: enabled"},
		{"unknown profile size", "gpus: [{board: h100-sxm5-80gb, mig_mode: enabled, mig_instances: [{profile: 3g.40gb}]}]", "f.yml:1: gpus[0].mig_instances[0].memory_total: must be set: the memory of profile 3g.40gb on this board is not built in"},
		{"instances above the GPU", "gpus: [{board: a100-sxm4-80gb, mig_mode: enabled, mig_instances: [{profile: 7g.80gb}, {profile: 7g.80gb}]}]", "f.yml:1: gpus[0].mig_instances: their memory (168577466368 bytes) exceeds the GPU's 85899345920 bytes"},
		{"lost GPU out of range", "gpus: [{board: rtx-4090}]\nfaults:\n  lost: [{gpu: 1}]", "f.yml:3: faults.lost[0].gpu: 1 is not the index of a GPU of this fleet (0 to 0)"},
		{"bad delay", "gpus: [{board: rtx-4090}]\nfaults: {delay: forever}", "f.yml:2: faults.delay: \"forever\" is not a duration between 0s and 1h, such as 250ms or 2s"},
		{"bad CUDA version", "cuda_driver_version: 12040\ngpus: []", "f.yml: cuda_driver_version: \"12040\" is not a version such as 12.4"},
		{"empty GPU", "gpus:\n  - board: rtx-4090\n  -\n", "f.yml:3: gpus[1]: an empty list item; fill it in or remove it"},
		{"empty GPU before another", "gpus:\n  - board: rtx-4090\n  - ~\n  - {board: a100-sxm4-80gb, mig_mode: on}\n", "f.yml:3: gpus[1]: an empty list item; fill it in or remove it"},
		{"duplicate field", "gpus: []\ndriver_version: \"1\"\ngpus: []", "f.yml:3: gpus: set twice; it is already set at line 1"},
		{"alias", "gpus: [&b {board: rtx-4090}, *b]", "f.yml:1: gpus[1]: aliases are not supported; write the value out"},
		{"merge key", "gpus:\n- <<: {board: rtx-4090}\n  count: 2", "f.yml:2: gpus[0].<<: merge keys are not supported; write the fields out"},
		{"not a mapping", "- board: rtx-4090", "f.yml:1: must be a mapping with the fields cuda_driver_version, driver_version, faults, gpus, memory_v1_only, nvml_version"},
		{"line is no field", "gpus: [{board: rtx-4090, line: 3}]", "f.yml:1: gpus[0].line: unknown field; valid fields are board, compute_capability, count, memory_reserved, memory_total, memory_used, mig_instances, mig_mode, name, pci_bus_id, power_watts, processes, temperature_celsius, utilization, uuid"},
		{"unknown MIG field", "gpus: [{board: a100-sxm4-80gb, mig_mode: enabled,\n  mig_instances: [{profile: 7g.80gb, colour: red}]}]", "f.yml:2: gpus[0].mig_instances[0].colour: unknown field; valid fields are memory_total, memory_used, processes, profile, uuid"},
		{"field set twice in a GPU", "gpus:\n- board: rtx-4090\n  board: a100-sxm4-80gb", "f.yml:3: gpus[0].board: set twice; it is already set at line 2"},
		{"long value of the wrong type", "gpus: [{board: rtx-4090, count: 2}, {board: rtx-4090, count: manymanymany}]", `f.yml:1: gpus[1].count: "manymanymany" is not a whole number`},
		{"not a mapping in a list", "gpus: [rtx-4090]", "f.yml:1: gpus[0]: must be a mapping with the fields board, compute_capability, count, memory_reserved, memory_total, memory_used, mig_instances, mig_mode, name, pci_bus_id, power_watts, processes, temperature_celsius, utilization, uuid"},
		{"not a list of numbers", "gpus: [{board: rtx-4090}]\nfaults: {garbage: all}", `f.yml:2: faults.garbage: "all" is not a list of whole numbers`},
		{"a list for a number", "gpus: [{board: rtx-4090, utilization: [1]}]", "f.yml:1: gpus[0].utilization: must be a number"},
		{"a value of two lines", "gpus: [{board: rtx-4090, count: \"a\\nb\"}]", `f.yml:1: gpus[0].count: "a\nb" is not a whole number`},
		{"a key that is a list", "? [gpus]\n: []", "f.yml: line 1: cannot unmarshal !!seq into string"}, // yaml.v3's own words, after the file
		{"the first error of the file", "gpus:\n- {board: rtx-4090, memory_used: lots}\n- {board: rtx-4090, count: many, colour: red}", `f.yml:2: gpus[0].memory_used: size "lots": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFleet("f.yml", []byte(tc.yaml))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestParseFleet(t *testing.T) {
	fleet, err := ParseFleet("custom.yml", []byte(`
driver_version: "470.256.02"
cuda_driver_version: "11.4"
nvml_version: "11.470.256.02"
memory_v1_only: true
gpus:
  - name: Tesla T4
    compute_capability: "7.5"
    memory_total: 15360MiB
    memory_reserved: 256MiB
    memory_used: 1GiB
    uuid: GPU-2f7d4b4e-1c3a-4e7b-9a55-0b8f6c1d2e3f
    pci_bus_id: "00000000:3B:00.0"
faults:
  delay: 250ms
  lost: [{gpu: 0, back_after_snapshots: 3}]
`))
	require.NoError(t, err)
	assert.Equal(t, System{DriverVersion: "470.256.02", CUDADriverVersion: "11.4", NVMLVersion: "11.470.256.02"}, fleet.System)
	require.Len(t, fleet.Devices, 1)
	d := fleet.Devices[0]
	assert.Equal(t, "Tesla T4", d.Name)
	assert.Equal(t, "7.5", d.ComputeCapability)
	assert.Equal(t, "", d.MIGMode, "a board of the file's own is not MIG-capable unless it says so")
	// Memory v1: the reserve is inside Used and not reported apart.
	assert.Equal(t, Memory{Total: 15360 << 20, Used: 256<<20 + 1<<30, Free: 15360<<20 - 256<<20 - 1<<30}, d.Memory)
	assert.Equal(t, Faults{Delay: 250 * time.Millisecond, Lost: []LostGPU{{GPU: 0, BackAfterSnapshots: 3}}}, fleet.Faults)
}

// Fleet files take sizes in the grammar of every size a user writes
// (package bytesize, whose tests hold it), within the fleet's 1PiB bound.
func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"85520809984", 85520809984},
		{"81559MiB", 85520809984}, // the same H100 total, as nvidia-smi prints it
		{"1.5GiB", 3 << 29},
		{"80GB", 80e9},
		{"0", 0},
		{"24Gi", 24 << 30},        // as a targets file and Kubernetes write it
		{"80 GiB", 80 << 30},      // as --gpu accepts it
		{"79.19GiB", 85029615043}, // as an engine logs it, rounded up to a byte
		{"1PiB", 1 << 50},         // the largest allowed
		{"0.5PB", 5e14},
	}
	for _, tc := range tests {
		got, err := parseByteSize(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	bad := []struct{ in, msg string }{
		{"1.0000001PiB", `"1.0000001PiB" is above the largest memory size allowed, 1PiB`},
		{"2000000TiB", `"2000000TiB" is above the largest memory size allowed, 1PiB`},
		{"-1GiB", `size "-1GiB": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`},
		{"1e9", `size "1e9": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`},
		{"Inf", `size "Inf": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`},
		{"GiB", `size "GiB": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`},
		{"24G", `size "24G": unknown unit "G"; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)`},
	}
	for _, tc := range bad {
		_, err := parseByteSize(tc.in)
		assert.EqualError(t, err, tc.msg, tc.in)
	}
}

// The example fleet files are valid and exercise what docs/nvml.md shows.
func TestExampleFleetFiles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "fleets", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = ParseFleet(path, data)
			require.NoError(t, err)
		})
	}
}

func FuzzParseFleet(f *testing.F) {
	for _, name := range Fleets() {
		data, _ := builtinFleet(name)
		f.Add(data)
	}
	f.Add([]byte("gpus: [{board: rtx-4090, count: 3, memory_used: 1.5GiB}]\nfaults: {garbage: [2], lost: [{gpu: 1, back_after: 1s}]}"))
	f.Add([]byte("gpus: [{name: x, memory_total: 18446744073709551615}]"))
	f.Add([]byte("gpus: [{board: a100-sxm4-40gb, mig_mode: enabled, mig_instances: [{profile: 7g.40gb, memory_used: 40GiB}]}]"))
	f.Add([]byte("memory_v1_only: true\ngpus: [{name: y, memory_total: 1KiB, memory_reserved: 1KiB}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fleet, err := ParseFleet("fuzz.yml", data)
		if err != nil {
			return
		}
		// Keep the lost and garbage faults; a delay or a missing library
		// would only slow the fuzzer or fail on purpose.
		fleet.Faults.Delay, fleet.Faults.Unavailable = 0, ""
		s, err := NewFake(fleet).Snapshot(t.Context())
		if err != nil {
			t.Fatalf("a valid fleet failed its snapshot: %v", err)
		}
		for _, d := range s.Devices {
			if d.Err != nil {
				continue
			}
			m := d.Memory
			if m.Free > m.Total || m.Used > m.Total || m.Reserved > m.Total || m.Free+m.Used+m.Reserved != m.Total {
				t.Fatalf("device %s: impossible memory %+v", d.UUID, m)
			}
			for _, v := range []*float64{d.Utilization, d.TemperatureCelsius, d.PowerWatts} {
				if v != nil && (*v != *v || *v < -273) {
					t.Fatalf("device %s: reading %v", d.UUID, *v)
				}
			}
		}
	})
}
