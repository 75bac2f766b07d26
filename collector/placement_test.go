package collector

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
)

// entryFor is a plan entry of a target needing need bytes on each of gpus
// devices, on devices of one size offering capacity bytes.
func entryFor(gpusRequired, gpus int, need, capacity int64) *planEntry {
	return &planEntry{
		fit:      estimator.Fit{GPUsRequired: gpusRequired, PerGPU: estimator.Components{Total: need}},
		gpus:     gpus,
		capacity: []int64{capacity},
	}
}

func devicesFree(free ...int64) []candidate {
	cands := make([]candidate, len(free))
	for i, f := range free {
		cands[i] = candidate{device: i, free: f, whole: true}
	}
	return cands
}

// Devices offering 10, 50 (capped to 40) and 30 GiB now, 40 each when idle.
func TestPlace(t *testing.T) {
	cands := devicesFree(10*gib, 50*gib, 30*gib)
	tests := []struct {
		name       string
		gpus       int
		need       int64
		fits, idle bool
		headroom   int64
		budget     int64
		devices    []int
	}{
		{name: "one GPU: the capped one", gpus: 1, need: 25 * gib, fits: true, idle: true,
			headroom: 15 * gib, budget: 40 * gib, devices: []int{1}},
		{name: "two GPUs: the second best bounds it", gpus: 2, need: 25 * gib, fits: true, idle: true,
			headroom: 5 * gib, budget: 30 * gib, devices: []int{1, 2}},
		{name: "three GPUs: fits only when idle", gpus: 3, need: 25 * gib, idle: true,
			headroom: -15 * gib, budget: 10 * gib, devices: []int{1, 2, 0}},
		{name: "more GPUs than the host has", gpus: 4, need: 25 * gib,
			headroom: -25 * gib, budget: 0, devices: []int{1, 2, 0}},
		{name: "exactly full fits", gpus: 1, need: 40 * gib, fits: true, idle: true,
			headroom: 0, budget: 40 * gib, devices: []int{1}},
		{name: "above the cap fits nowhere", gpus: 1, need: 40*gib + 1,
			headroom: -1, budget: 40 * gib, devices: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := place(entryFor(tt.gpus, tt.gpus, tt.need, 40*gib), cands)
			assert.Equal(t, tt.fits, p.fits, "fits")
			assert.Equal(t, tt.idle, p.fitsWhenIdle, "fits when idle")
			assert.Equal(t, tt.headroom, p.headroom, "headroom")
			assert.Equal(t, tt.budget, p.budget, "budget")
			assert.Equal(t, tt.devices, p.devices, "devices")
		})
	}
}

// A multi-GPU target spans whole GPUs of the host's model only; a MIG
// instance, or a GPU of a smaller model, takes single-GPU targets.
func TestPlaceWholeGPUs(t *testing.T) {
	// Device 0: a whole GPU with 30 GiB free; 1: a MIG instance with 40;
	// 2: a whole GPU with 20; 3: a GPU of a smaller model with 35.
	cands := []candidate{
		{device: 0, free: 30 * gib, whole: true},
		{device: 1, free: 40 * gib},
		{device: 2, free: 20 * gib, whole: true},
		{device: 3, free: 35 * gib},
	}
	one := place(entryFor(1, 1, 25*gib, 80*gib), cands)
	assert.Equal(t, []int{1}, one.devices, "one GPU: the MIG instance offers the most")
	assert.True(t, one.fits)
	two := place(entryFor(2, 2, 25*gib, 80*gib), cands)
	assert.Equal(t, []int{0, 2}, two.devices, "two GPUs: the whole ones, although 1 and 3 offer more")
	assert.Equal(t, int64(-5*gib), two.headroom)
	assert.False(t, two.fits)
	assert.True(t, two.fitsWhenIdle)
	three := place(entryFor(3, 3, 25*gib, 80*gib), cands)
	assert.Equal(t, []int{0, 2}, three.devices)
	assert.Equal(t, int64(-25*gib), three.headroom, "two whole GPUs are too few")
	assert.False(t, three.fitsWhenIdle)
}

// Equal devices are taken in index order, so that answers are stable.
func TestPlaceTies(t *testing.T) {
	p := place(entryFor(2, 2, gib, 80*gib), devicesFree(8*gib, 8*gib, 8*gib))
	assert.Equal(t, []int{0, 1}, p.devices)
}

// Properties of every placement: the verdict agrees with the headroom's
// sign, no better placement exists, and nothing overflows.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{10, 50, 30}, uint16(25), uint8(2), uint16(40), true)
	f.Add([]byte{}, uint16(1), uint8(1), uint16(40), true)
	f.Add([]byte{255, 255}, uint16(65535), uint8(0), uint16(0), false)
	f.Fuzz(func(t *testing.T, freeGiB []byte, needGiB uint16, gpus uint8, capacityGiB uint16, placed bool) {
		if len(freeGiB) > 64 {
			freeGiB = freeGiB[:64]
		}
		free := make([]int64, len(freeGiB))
		for i, b := range freeGiB {
			free[i] = int64(b) * gib
		}
		n := max(int(gpus), 1)
		required := 0
		if placed {
			required = n
		}
		need, capacity := int64(needGiB)*gib, int64(capacityGiB)*gib
		p := place(entryFor(required, n, need, capacity), devicesFree(free...))

		require.Len(t, p.devices, min(n, len(free)))
		require.Equal(t, len(p.devices), len(slices.Compact(slices.Sorted(slices.Values(p.devices)))), "a device chosen twice")
		if n > len(free) {
			require.Equal(t, -need, p.headroom)
			require.False(t, p.fits || p.fitsWhenIdle)
			return
		}
		require.Equal(t, p.budget-need, p.headroom)
		require.Equal(t, placed && p.headroom >= 0, p.fits)
		if p.fits {
			require.True(t, p.fitsWhenIdle, "what fits now fits when idle")
		}
		// The chosen devices offer at least as much as any other.
		chosen := map[int]bool{}
		for _, d := range p.devices {
			chosen[d] = true
			require.GreaterOrEqual(t, min(free[d], capacity), p.budget)
		}
		for d := range free {
			if !chosen[d] {
				require.LessOrEqual(t, min(free[d], capacity), p.budget)
			}
		}
	})
}

// place puts e's target on e.gpus of cands, as a scrape does through the
// ranking of e's capacity.
func place(e *planEntry, cands []candidate) placement {
	return rank(e.capacity, cands).place(e)
}

// Place, which `vramfit plan` calls with devices read from Prometheus,
// answers exactly as an agent's /api/v1/targets does on the same devices.
func TestPlaceAgreesWithTheAgent(t *testing.T) {
	for _, fleet := range []string{"testdata/fleets/two-h100.yml", "testdata/fleets/mig.yml", "testdata/fleets/v1-t4.yml", "dgx-h100"} {
		t.Run(fleet, func(t *testing.T) {
			c, store := newTestCollector(t, openFleet(t, fleet), testTargets)
			v := c.look()
			require.NoError(t, v.nvmlErr)
			want := c.targetsResponse(v)

			gpu, placed := Place(store.Targets(), v.snapshot.Devices)
			require.Equal(t, want.GPU, gpu)
			require.Len(t, placed, len(want.Targets))
			for i, p := range placed {
				assert.Equal(t, *want.Targets[i].Now, p.Now, want.Targets[i].Target)
				assert.Equal(t, *want.Targets[i].GPUsRequired, p.Fit.GPUsRequired, want.Targets[i].Target)
			}
		})
	}
}

// Without a device that answers, nothing is placed.
func TestPlaceWithoutDevices(t *testing.T) {
	store := loadedStore(t, testTargets)
	gpu, placed := Place(store.Targets(), nil)
	assert.Nil(t, gpu)
	assert.Empty(t, placed)
}
