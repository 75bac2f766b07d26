//go:build linux

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
)

// checkHolders checks the holder collectors through Prometheus: the fleet's
// processes (pid 4242 on each of the four busy GPUs), and a pod the kubelet
// is given on GPU 4, which appears at the next scrapes and goes when the
// pod does.
func (w *world) checkHolders(t *testing.T) {
	t.Helper()
	sel := `{job="` + job + `"}`
	for _, c := range []string{"processes", "pods"} {
		s := w.queryOne(t, `vramfit_scrape_collector_success{job="`+job+`",collector="`+c+`"}`)
		require.Equal(t, "1", s.value(), "collector %s", c)
	}
	processes := w.waitSeries(t, "vramfit_gpu_process_memory_used_bytes"+sel, 4)
	for _, p := range processes {
		require.Equal(t, "4242", p.Metric["pid"])
		require.Equal(t, "python", p.Metric["process"])
		require.Equal(t, "75161927680", p.value(), "70 GiB, as the fleet file says")
	}

	gpu4 := w.queryOne(t, `vramfit_gpu_info{job="`+job+`",gpu="4"}`)
	w.kubelet.SetPods(podresourcestest.Pod("ml", "trainer-0", "nvidia.com/gpu", map[string][]string{
		"trainer": {gpu4.Metric["uuid"]},
	}))
	pods := w.waitSeries(t, "vramfit_gpu_allocation_info"+sel, 1)
	for label, want := range map[string]string{"gpu": "4", "uuid": gpu4.Metric["uuid"], "namespace": "ml", "pod": "trainer-0", "container": "trainer"} {
		require.Equal(t, want, pods[0].Metric[label], "label %s", label)
	}
	w.kubelet.SetPods()
	w.waitSeries(t, "vramfit_gpu_allocation_info"+sel, 0)
}

// waitSeries polls expr until it returns n series, and returns them.
func (w *world) waitSeries(t *testing.T, expr string, n int) []sample {
	t.Helper()
	deadline := time.Now().Add(dataTimeout)
	for {
		series, err := w.prom.query(expr)
		require.NoError(t, err, expr)
		if len(series) == n {
			return series
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d series after %s, want %d: %v", expr, len(series), dataTimeout, n, series)
		}
		time.Sleep(pollInterval)
	}
}
