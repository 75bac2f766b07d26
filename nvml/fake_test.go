package nvml

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fakeHarness(t *testing.T, fleet string) *harness {
	f, err := OpenFake(fleet)
	require.NoError(t, err)
	want, err := OpenFake(fleet)
	require.NoError(t, err)
	var faults Faults
	set := func(change func()) { change(); f.SetFaults(faults) }
	return &harness{
		backend: f,
		want:    want.fleet.Devices,
		calls:   f.Calls,
		lose:    func(i int) { set(func() { faults.Lost = append(faults.Lost, LostGPU{GPU: i}) }) },
		restore: func(int) { set(func() { faults.Lost = nil }) },
		slow:    func(d time.Duration) { set(func() { faults.Delay = d }) },
		unload: func() {
			set(func() {
				faults.Unavailable = "libnvidia-ml.so.1: cannot open shared object file: No such file or directory"
			})
		},
		reload:   func() { set(func() { faults.Unavailable = "" }) },
		balanced: func() bool { return true },
	}
}

func TestFakeContract(t *testing.T) {
	for _, fleet := range Fleets() {
		t.Run(fleet, func(t *testing.T) {
			runContract(t, func(t *testing.T) *harness { return fakeHarness(t, fleet) })
		})
	}
}

func TestBuiltinFleets(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		fleet string
		gpus  int
		name  string
		total uint64
		migs  int
	}{
		// Totals as nvidia-smi prints them (MiB), cited in boards.go:
		// modal-labs/modal-client#2797, NVIDIA/nccl#1264,
		// NVIDIA/cuda-samples#311, RLinf/RLinf#255.
		{"dgx-h100", 8, "NVIDIA H100 80GB HBM3", 81559 * mib, 0},
		{"dgx-a100", 8, "NVIDIA A100-SXM4-80GB", 81920 * mib, 0},
		{"h200", 1, "NVIDIA H200", 143771 * mib, 0},
		{"rtx4090x2", 2, "NVIDIA GeForce RTX 4090", 24564 * mib, 0},
		{"mig-a100", 2, "NVIDIA A100-SXM4-80GB", 81920 * mib, 4},
	}
	require.ElementsMatch(t, []string{"dgx-h100", "dgx-a100", "h200", "rtx4090x2", "mig-a100"}, Fleets())
	for _, tc := range tests {
		t.Run(tc.fleet, func(t *testing.T) {
			f, err := OpenFake(tc.fleet)
			require.NoError(t, err)
			s, err := f.Snapshot(t.Context())
			require.NoError(t, err)
			gpus, migs := 0, 0
			for _, d := range s.Devices {
				if d.IsMIG() {
					migs++
					assert.Regexp(t, `^MIG-`, d.UUID)
					continue
				}
				gpus++
				assert.Equal(t, tc.name, d.Name)
				assert.Equal(t, tc.total, d.Memory.Total)
				assert.Regexp(t, `^GPU-[0-9a-f]{8}-`, d.UUID)
				assert.Greater(t, d.Memory.Free, uint64(0))
			}
			assert.Equal(t, tc.gpus, gpus)
			assert.Equal(t, tc.migs, migs)
			again, err := OpenFake(tc.fleet)
			require.NoError(t, err)
			assert.Equal(t, f.fleet.Devices, again.fleet.Devices, "UUIDs and bus ids are deterministic")
		})
	}
}

func TestMIGFleet(t *testing.T) {
	f, err := OpenFake("mig-a100")
	require.NoError(t, err)
	s, err := f.Snapshot(t.Context())
	require.NoError(t, err)
	require.Len(t, s.Devices, 6)
	parent := s.Devices[0]
	assert.Equal(t, MIGEnabled, parent.MIGMode)
	var used uint64
	for i, profile := range []string{"3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"} {
		mig := s.Devices[1+i]
		assert.Equal(t, parent.UUID, mig.ParentUUID)
		assert.Equal(t, profile, mig.MIGProfile)
		assert.Equal(t, parent.Index, mig.Index)
		assert.Equal(t, "NVIDIA A100-SXM4-80GB MIG "+profile, mig.Name)
		used += mig.Memory.Used
	}
	// go-nvml's A100 80GB profile table: 3g.40gb has 40192 MB.
	assert.Equal(t, uint64(40192)<<20, s.Devices[1].Memory.Total)
	assert.Equal(t, used, parent.Memory.Used, "the parent reports its instances' memory together")
	assert.Equal(t, MIGDisabled, s.Devices[5].MIGMode)
}

func TestFakeLostGPUComesBack(t *testing.T) {
	t.Run("after snapshots", func(t *testing.T) {
		f, err := OpenFake("dgx-h100")
		require.NoError(t, err)
		f.SetFaults(Faults{Lost: []LostGPU{{GPU: 3, BackAfterSnapshots: 2}}})
		for want := range []bool{true, true, false, false} {
			s, err := f.Snapshot(t.Context())
			require.NoError(t, err)
			if want < 2 {
				assert.ErrorIs(t, s.Devices[3].Err, ErrGPULost, "snapshot %d", want)
			} else {
				assert.NoError(t, s.Devices[3].Err, "snapshot %d", want)
			}
		}
	})
	t.Run("after a time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, err := OpenFake("rtx4090x2")
			require.NoError(t, err)
			f.SetFaults(Faults{Lost: []LostGPU{{GPU: 1, BackAfter: time.Minute}}})
			s, err := f.Snapshot(t.Context())
			require.NoError(t, err)
			assert.ErrorIs(t, s.Devices[1].Err, ErrGPULost)
			assert.NoError(t, s.Devices[0].Err)
			time.Sleep(time.Minute)
			s, err = f.Snapshot(t.Context())
			require.NoError(t, err)
			assert.NoError(t, s.Devices[1].Err)
		})
	})
	t.Run("a lost MIG parent takes its instances down", func(t *testing.T) {
		f, err := OpenFake("mig-a100")
		require.NoError(t, err)
		f.SetFaults(Faults{Lost: []LostGPU{{GPU: 0}}})
		s, err := f.Snapshot(t.Context())
		require.NoError(t, err)
		for _, d := range s.Devices[:5] {
			assert.ErrorIs(t, d.Err, ErrGPULost, d.UUID)
		}
		assert.NoError(t, s.Devices[5].Err)
	})
}

func TestFakeGarbageIsADeviceError(t *testing.T) {
	f, err := OpenFake("dgx-a100")
	require.NoError(t, err)
	f.SetFaults(Faults{Garbage: []int{2}})
	s, err := f.Snapshot(t.Context())
	require.NoError(t, err)
	require.Error(t, s.Devices[2].Err)
	assert.Contains(t, s.Devices[2].Err.Error(), "free memory")
	for i, d := range s.Devices {
		if i != 2 {
			assert.NoError(t, d.Err)
		}
	}
}

// The calls per snapshot grow with the GPUs and nothing else.
func TestFakeCallsLinearInGPUs(t *testing.T) {
	perSnapshot := func(gpus int) uint64 {
		f, err := ParseFleet("n.yml", fmt.Appendf(nil, "gpus: [{board: h100-sxm5-80gb, count: %d}]", gpus))
		require.NoError(t, err)
		fake := NewFake(f)
		_, err = fake.Snapshot(t.Context())
		require.NoError(t, err)
		return fake.Calls()
	}
	one, two, eight := perSnapshot(1), perSnapshot(2), perSnapshot(8)
	assert.Equal(t, 7*(two-one), eight-one, "each GPU adds the same calls")
	assert.Greater(t, two, one)
}

func TestOpenFakeUnknown(t *testing.T) {
	_, err := OpenFake("dgx-h1000")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dgx-h100, ")
}

func BenchmarkFakeSnapshot(b *testing.B) {
	f, err := OpenFake("dgx-h100")
	require.NoError(b, err)
	for b.Loop() {
		if _, err := f.Snapshot(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Calls())/float64(b.N), "calls/snapshot")
}
