package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/collector/scrapegrid"
	"github.com/vramfit/vramfit/nvml"
)

// The scrape itself is benchmarked through the real handler, against its
// floor, in cmd/vramfit (BenchmarkScrape, BenchmarkScrapeFloor).

// gridFile writes the targets file of n targets.
func gridFile(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "targets.yml")
	require.NoError(tb, os.WriteFile(path, scrapegrid.TargetsFile(n), 0o600))
	return path
}

func gridFleet(tb testing.TB, gpus int) *nvml.Fake {
	tb.Helper()
	fleet, err := scrapegrid.Fleet(gpus)
	require.NoError(tb, err)
	fake := nvml.NewFake(fleet)
	tb.Cleanup(func() { _ = fake.Close() })
	return fake
}

// BenchmarkReload is what a new targets file costs before the next scrape
// is served, on a host of 8 GPUs, as serve does it: loading it (reading,
// validating and estimating every target, then, since a collector is
// there, planning the targets on the GPUs, searching each max_batch and
// building their series: Reload), then the first scrape, then a steady
// one. Each part is reported on its own; the first scrape costs what a
// steady one does, where it used to do the planning.
func BenchmarkReload(b *testing.B) {
	for _, n := range scrapegrid.Targets {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			path, fake := gridFile(b, n), gridFleet(b, 8)
			var load, firstScrape, steadyScrape time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				store := NewTargetStore(path, discard())
				reg := prometheus.NewRegistry()
				reg.MustRegister(New(fake, store, testTimeout, discard()))
				if _, err := store.Reload(); err != nil {
					b.Fatal(err)
				}
				loaded := time.Now()
				for _, d := range []*time.Duration{&firstScrape, &steadyScrape} {
					from := time.Now()
					if _, err := reg.Gather(); err != nil {
						b.Fatal(err)
					}
					*d += time.Since(from)
				}
				load += loaded.Sub(start)
			}
			b.ReportMetric(load.Seconds()*1e3/float64(b.N), "load-ms/op")
			b.ReportMetric(firstScrape.Seconds()*1e3/float64(b.N), "first-scrape-ms/op")
			b.ReportMetric(steadyScrape.Seconds()*1e3/float64(b.N), "steady-scrape-ms/op")
		})
	}
}

// Across the benchmark grid, the estimator works when the targets load (the
// estimates, the plan on the devices and the max_batch searches), and never
// again while the devices and their free memory stay the same: not at the
// first scrape either.
func TestGridScrapesDoNoEstimatorWork(t *testing.T) {
	for _, gpus := range scrapegrid.GPUs {
		for _, n := range []int{1, 10, 100} {
			store := NewTargetStore(gridFile(t, n), discard())
			reg := prometheus.NewRegistry()
			reg.MustRegister(New(gridFleet(t, gpus), store, testTimeout, discard()))
			_, err := store.Reload()
			require.NoError(t, err)
			planned := store.work.Load()
			// A placement per target, and at most one max_batch search
			// per target (the inference ones that fit somewhere).
			assert.GreaterOrEqual(t, planned, uint64(2*n), "%d GPUs, %d targets", gpus, n)
			assert.LessOrEqual(t, planned, uint64(3*n), "%d GPUs, %d targets", gpus, n)
			for range 4 {
				_, err := reg.Gather()
				require.NoError(t, err)
			}
			assert.Equal(t, planned, store.work.Load(), "%d GPUs, %d targets: scrapes made estimator calls", gpus, n)
		}
	}
}
