package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planOf is a plan of the targets entryFor describes, on devices of one
// size offering capacity bytes to every target.
func planOf(capacity int64, entries ...*planEntry) *plan {
	p := &plan{sizes: []deviceSize{{name: "gpu", total: uint64(capacity)}}, entries: make([]planEntry, len(entries))}
	for i, e := range entries {
		p.entries[i].fit, p.entries[i].gpus = e.fit, e.gpus
		p.entries[i].capacity = []int64{capacity}
	}
	p.packOrder = packOrder(p.entries)
	return p
}

func TestPlaceTogether(t *testing.T) {
	two := devicesFree(40*gib, 40*gib) // two whole 80 GiB GPUs, half free
	tests := []struct {
		name       string
		entries    []*planEntry
		cands      []candidate
		fits, idle bool
		left       []int
	}{
		{"each fits alone, not both at once", []*planEntry{entryFor(1, 1, 30*gib, 0), entryFor(1, 1, 30*gib, 0), entryFor(1, 1, 30*gib, 0)},
			two, false, true, []int{2}},
		{"two share one GPU", []*planEntry{entryFor(1, 1, 20*gib, 0), entryFor(1, 1, 20*gib, 0), entryFor(2, 2, 20*gib, 0)},
			two, true, true, nil},
		// First fit, largest first: the two-GPU target takes both GPUs'
		// 30 GiB first, then the small one still finds 10 GiB.
		{"the largest first", []*planEntry{entryFor(1, 1, 10*gib, 0), entryFor(2, 2, 30*gib, 0)},
			two, true, true, nil},
		{"a target no count fits", []*planEntry{entryFor(0, 1, 100*gib, 0), entryFor(1, 1, 10*gib, 0)},
			two, false, false, []int{0}},
		{"a multi-GPU target spans whole GPUs only", []*planEntry{entryFor(2, 2, 10*gib, 0)},
			[]candidate{{device: 0, free: 40 * gib, whole: true}, {device: 1, free: 40 * gib}}, false, false, []int{0}},
		{"no targets fit together", nil, two, true, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := placeTogether(planOf(80*gib, tt.entries...), tt.cands)
			assert.Equal(t, tt.fits, got.fits, "fits")
			assert.Equal(t, tt.idle, got.fitsWhenIdle, "fits when idle")
			assert.Equal(t, tt.left, got.left, "left")
		})
	}
}

// The capacity is the target's: a memory cap below the need leaves a GPU
// out even when it has the room.
func TestPlaceTogetherKeepsTheMemoryCap(t *testing.T) {
	p := planOf(80*gib, entryFor(1, 1, 30*gib, 0))
	p.entries[0].capacity = []int64{20 * gib}
	got := placeTogether(p, devicesFree(80*gib))
	assert.False(t, got.fits)
	assert.False(t, got.fitsWhenIdle)
}

// On the two-H100 host the test targets do not fit together, not even
// idle (huge fits on no count of GPUs, train needs three); two small ones
// share the idle GPU.
func TestCollectTogether(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	want := `# HELP vramfit_targets_fit_together Whether all the targets fit in the memory free now at once, each on its own share of the devices (1) or not (0); each target's vramfit_target_fits judges it alone.
# TYPE vramfit_targets_fit_together gauge
vramfit_targets_fit_together 0
# HELP vramfit_targets_fit_together_when_idle Whether all the targets would fit at once on this host's devices with nothing else running (1) or not (0).
# TYPE vramfit_targets_fit_together_when_idle gauge
vramfit_targets_fit_together_when_idle 0
`
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), togetherFamilies...))

	// Two small targets share the idle GPU.
	small := filepath.Join(t.TempDir(), "small.yml")
	require.NoError(t, os.WriteFile(small, []byte("targets:\n  - {name: a, model: {preset: gpt2}}\n  - {name: b, model: {preset: gpt2}}\n"), 0o600))
	c, _ = newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), small)
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(strings.ReplaceAll(want, " 0\n", " 1\n")), togetherFamilies...))

	// Without GPUs there is no answer.
	fake := fleetFrom(t, "gpus: [{board: h100-sxm5-80gb}]\nfaults: {unavailable: \"no library\"}\n")
	c, _ = newTestCollector(t, fake, small)
	assert.Equal(t, 0, testutil.CollectAndCount(c, togetherFamilies...))
}

var togetherFamilies = []string{"vramfit_targets_fit_together", "vramfit_targets_fit_together_when_idle"}
