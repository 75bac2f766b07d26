package collector

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/metrics.md bounds the series per device and per target; an operator
// sizes Prometheus by it. The bounds are those of the fullest device (memory
// v2, utilisation, temperature and power reported) and the fullest target
// (a serving engine's, which adds kv_cache_tokens and max_concurrency to
// every other family), measured, not counted by hand.
func TestDocumentedCardinality(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`up to (\d+) series per device and (\d+) per\s+target`).FindSubmatch(doc)
	require.NotNil(t, m, "docs/metrics.md states the bounds")
	perDevice, _ := strconv.Atoi(string(m[1]))
	perTarget, _ := strconv.Atoi(string(m[2]))

	c, _ := newTestCollector(t, openFleet(t, "dgx-h100"), "../deploy/examples/targets.yml")
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	byDevice, byTarget := map[string]int{}, map[string]int{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "uuid":
					byDevice[l.GetValue()]++
				case "target":
					byTarget[l.GetValue()]++
				}
			}
		}
	}
	most := func(counts map[string]int) int {
		n := 0
		for _, c := range counts {
			n = max(n, c)
		}
		return n
	}
	require.NotEmpty(t, byDevice)
	require.NotEmpty(t, byTarget)
	assert.Equal(t, most(byDevice), perDevice, "series of the fullest device")
	assert.Equal(t, most(byTarget), perTarget, "series of the fullest target")
}
