package collector

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator/targetsfile"
	"github.com/vramfit/vramfit/nvml"
)

// allocated runs f and returns the bytes it allocated; the tests that call
// it are not parallel, so the count is f's own.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// manyTargets is a targets file of n inference targets of known models.
func manyTargets(n int) string {
	presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "gemma-7b", "qwen2.5-7b"}
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: t%d, model: {preset: %s}, context: %d, batch: %d}\n", i, presets[i%len(presets)], 1024<<(i%4), 1+i%16)
	}
	return b.String()
}

// A reload of a hostile or broken file fails with the file, line and field,
// in bounded memory, and the targets loaded before stay in place: the
// scrape goes on exporting them, with the reload gauge at 0.
func TestReloadHostileKeepsTargets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.yml")
	require.NoError(t, os.WriteFile(path, []byte(twoTargets), 0o600))
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	h := metricsHandler(c, store)
	good := scrapeOnce(t, h)
	require.Equal(t, http.StatusOK, good.code)
	loaded := store.Targets()

	deep := "targets: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	var bomb strings.Builder
	bomb.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	for i := range 20 {
		fmt.Fprintf(&bomb, "b%d: &b%d [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n", i, i)
	}
	bomb.WriteString("targets: [*b19]\n")
	tests := []struct {
		name    string
		content string // written to the targets file; "" with dir set: the path is a directory
		dir     bool
		want    string // the first line of the error, after the path
	}{
		{name: "empty", content: "", want: ": the file is empty; write `targets: []` for a file without targets"},
		{name: "not YAML", content: "\x7fELF\x02\x01\x01", want: ": control characters are not allowed; a targets file is YAML text in UTF-8"},
		{name: "nested 100,000 deep", content: deep, want: ": exceeded max depth of 10000"},
		{name: "alias bomb", content: bomb.String(), want: ":2: aliases (*a) are not supported in a targets file"},
		{name: "unknown field", content: "targets:\n  - {name: a, model: {preset: gpt2}, bach: 4}\n", want: `:2: targets[0]: unknown field "bach"; did you mean batch?`},
		{name: "wrong type", content: "targets:\n  - {name: a, model: {preset: gpt2}, batch: [4]}\n", want: ":2: targets[0].batch: must be an integer, got a list"},
		{name: "duplicate names", content: "targets:\n  - {name: a, model: {preset: gpt2}}\n  - {name: a, model: {preset: gpt2}}\n", want: `:3: targets[1].name: duplicate name "a"; the first is at line 2`},
		{name: "number out of range", content: "targets:\n  - {name: a, model: {preset: gpt2}, context: 1000000000000}\n", want: ":2: targets[0].context: must be at most 16777216, got 1000000000000"},
		{name: "one target too many", content: manyTargets(targetsfile.MaxTargets + 1), want: ":2: targets: lists 10001 targets; at most 10000 are allowed"},
		{name: "larger than 2 MiB", content: "targets: []\n" + strings.Repeat("#", targetsfile.MaxSize), want: ": the file is larger than 2097152 bytes"},
		{name: "hf_config a device that never ends", content: "targets:\n  - {name: a, model: {hf_config: /dev/zero}}\n", want: ":2: targets[0].model: /dev/zero is a device, not a regular file"},
		{name: "a directory", dir: true, want: ": cannot read the targets file: it is a directory, not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.RemoveAll(path))
			if tc.dir {
				require.NoError(t, os.Mkdir(path, 0o700))
			} else {
				require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			}
			var err error
			used := allocated(func() { _, err = store.Reload() })
			require.Error(t, err)
			first, _, _ := strings.Cut(err.Error(), "\n")
			assert.True(t, strings.HasPrefix(first, path+tc.want), "got %q", first)
			assert.LessOrEqual(t, used, uint64(96<<20), "allocated %.1f MiB", float64(used)/(1<<20))
			t.Logf("refused, %.2f MiB allocated", float64(used)/(1<<20))

			assert.Same(t, loaded, store.Targets(), "a failed reload never replaces the targets")
			r := scrapeOnce(t, h)
			require.Equal(t, http.StatusOK, r.code)
			assert.Equal(t, 0.0, r.series["vramfit_config_last_reload_successful{}"].value)
			isTarget := func(s sample) bool { return strings.HasPrefix(s.family, "vramfit_target_") }
			assert.Equal(t, good.only(isTarget), r.only(isTarget), "the scrape exports the targets before")
		})
	}

	require.NoError(t, os.RemoveAll(path))
	require.NoError(t, os.WriteFile(path, []byte(oneTarget), 0o600))
	_, err := store.Reload()
	require.NoError(t, err, "a good file loads again")
	assert.Equal(t, []string{"chat"}, names(store))
	assert.Equal(t, 1.0, scrapeOnce(t, h).series["vramfit_config_last_reload_successful{}"].value)
}

// The largest targets file allowed, 10,000 targets, loads and is scraped
// (planned on the GPUs, placed, exported) in bounded memory; every target
// is exported.
func TestTenThousandTargets(t *testing.T) {
	path := writeTargets(t, manyTargets(targetsfile.MaxTargets))
	store := NewTargetStore(path, discard())
	var err error
	loadBytes := allocated(func() { _, err = store.Reload() })
	require.NoError(t, err)
	c := New(openFleet(t, "testdata/fleets/two-h100.yml"), store, testTimeout, discard())
	var r scrapeResult
	// The subject is memory, not time: on a loaded machine (and under
	// -race) this scrape may outlast any deadline a scraper would set.
	h := metricsHandlerWithin(c, store, time.Hour)
	scrapeBytes := allocated(func() { r = scrapeOnce(t, h) })
	require.Equal(t, http.StatusOK, r.code)
	assert.Len(t, r.only(func(s sample) bool { return s.family == "vramfit_target_info" }), targetsfile.MaxTargets)
	t.Logf("10,000 targets: load %.0f MiB, scrape %.0f MiB allocated, %d series",
		float64(loadBytes)/(1<<20), float64(scrapeBytes)/(1<<20), len(r.series))
	assert.LessOrEqual(t, loadBytes, uint64(512<<20))
	assert.LessOrEqual(t, scrapeBytes, uint64(512<<20))
}

// Target names may hold quotes, backslashes and markup: /metrics escapes
// them as the text format requires, and they read back exactly as written.
func TestMetricsEscapeTargetNames(t *testing.T) {
	names := []string{`"quoted"`, `back\slash`, `<script>alert('x')</script>`, `a & b`, `} 1` + "\u2028" + `x{`}
	var file strings.Builder
	file.WriteString("targets:\n")
	for _, n := range names {
		fmt.Fprintf(&file, "  - {name: %q, model: {preset: gpt2}}\n", n)
	}
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), writeTargets(t, file.String()))
	r := scrapeOnce(t, metricsHandler(c, store))
	require.Equal(t, http.StatusOK, r.code)
	var got []string
	for _, s := range r.series {
		if s.family == "vramfit_target_info" {
			got = append(got, s.labels["target"])
		}
	}
	assert.ElementsMatch(t, names, got)
}

// FuzzCollect scrapes any fleet file with any targets file: the scrape
// answers 200 in valid text format, every value is finite, no byte count
// but headroom is negative, every target needs more than 0 bytes, and a
// target that fits has headroom.
func FuzzCollect(f *testing.F) {
	fleets, err := filepath.Glob("testdata/fleets/*.yml")
	require.NoError(f, err)
	targets := [][]byte{[]byte(oneTarget), []byte(twoTargets), []byte(scriptTargets)}
	data, err := os.ReadFile(testTargets)
	require.NoError(f, err)
	targets = append(targets, data)
	for i, fleet := range fleets {
		data, err := os.ReadFile(fleet)
		require.NoError(f, err)
		f.Add(data, targets[i%len(targets)])
	}
	// Targets that fit on no count of GPUs (they once exported a need of 0).
	f.Add([]byte("gpus: [{board: h100-sxm5-80gb, count: 2}]\n"),
		[]byte("targets:\n  - {name: a, model: {preset: gpt2}, batch: 1048576}\n  - {name: b, model: {parameters: 7e12}, tensor_parallel: 2, pipeline_parallel: 2}\n"))
	f.Add([]byte("gpus: [{board: rtx-4090, count: 2}]\nfaults: {garbage: [1], lost: [{gpu: 0}]}\n"), []byte(twoTargets))
	f.Add([]byte("gpus: [{name: x, memory_total: 1KiB}]\n"), []byte("targets:\n  - {name: a, model: {parameters: 1}, method: rule-of-thumb}\n"))
	f.Fuzz(func(t *testing.T, fleetData, targetsData []byte) {
		fleet, err := nvml.ParseFleet("fuzz-fleet.yml", fleetData)
		if err != nil {
			return
		}
		fleet.Faults.Delay = 0 // a hung driver would only slow the fuzzer
		set, err := newTargets("fuzz-targets.yml", targetsData, new(atomic.Uint64))
		if err != nil {
			return
		}
		fake := nvml.NewFake(fleet)
		defer fake.Close()
		store := NewTargetStore("", discard())
		store.swap(set)
		store.lastOK.Store(true)
		r := scrapeOnce(t, metricsHandler(New(fake, store, testTimeout, discard()), store))
		if r.code != http.StatusOK {
			t.Fatalf("scrape answered %d", r.code)
		}
		for key, s := range r.series {
			switch {
			case math.IsNaN(s.value) || math.IsInf(s.value, 0):
				t.Fatalf("%s = %v", key, s.value)
			case s.value < 0 && s.family != "vramfit_target_headroom_bytes":
				t.Fatalf("%s = %v: negative", key, s.value)
			case s.family == "vramfit_target_required_bytes" && s.labels["component"] == "total" && s.value <= 0:
				t.Fatalf("%s = %v: a target needs some memory", key, s.value)
			case s.family == "vramfit_target_fits" && s.value == 1:
				if h := r.series["vramfit_target_headroom_bytes{target="+s.labels["target"]+"}"].value; h < 0 {
					t.Fatalf("%s fits with headroom %v", s.labels["target"], h)
				}
			}
		}
	})
}
