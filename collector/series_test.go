package collector

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// write is what the registry reads of m.
func write(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	require.NoError(t, m.Write(&out))
	return &out
}

// A sample writes what the const metric of the same labels and value
// writes: the label pairs in name order and the gauge.
func TestGaugeSampleWritesAsConstMetric(t *testing.T) {
	tests := []struct {
		desc   *prometheus.Desc
		labels []string
		value  float64
	}{
		{targetInfoDesc, []string{"chat", "llama-3-8b", "inference", "bf16", "detailed"}, 1},
		{targetRequiredDesc, []string{"chat", "kv_cache"}, 1 << 34},
		{targetHeadroomDesc, []string{"big"}, -3.5e9},
		{gpuInfoDesc, []string{"0", "GPU-1", "NVIDIA H100 80GB HBM3", "00000000:18:00.0", "9.0", "disabled", "", ""}, 1},
		{driverInfoDesc, []string{"550.54.15", "12.4", "12.550.54.15"}, 1},
	}
	for _, tt := range tests {
		want := write(t, prometheus.MustNewConstMetric(tt.desc, prometheus.GaugeValue, tt.value, tt.labels...))
		b := newGaugeSamples(1)
		got := b.add(newSeries(tt.desc, tt.labels...), tt.value)
		assert.Equal(t, tt.desc, got.Desc())
		assert.Equal(t, want.String(), write(t, got).String())
	}
}

// Label values Prometheus cannot carry fail their series with
// client_golang's error, and the scrape serves the others.
func TestInvalidSeries(t *testing.T) {
	_, want := prometheus.NewConstMetric(targetFitsDesc, prometheus.GaugeValue, 1, "bad\xff")
	require.Error(t, want)
	b := newGaugeSamples(2)
	bad := b.add(newSeries(targetFitsDesc, "bad\xff"), 1)
	assert.Equal(t, want, bad.Write(&dto.Metric{}))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metricsCollector{bad, b.add(newSeries(targetFitsDesc, "good"), 1)})
	families, err := reg.Gather()
	require.ErrorContains(t, err, "not valid UTF-8")
	require.Len(t, families, 1)
	require.Len(t, families[0].Metric, 1)
	assert.Equal(t, "good", families[0].Metric[0].Label[0].GetValue())
}

// Samples handed out keep their values when later ones outgrow the room
// made for them.
func TestGaugeSamplesGrow(t *testing.T) {
	b := newGaugeSamples(1)
	s := newSeries(targetHeadroomDesc, "a")
	var made []*gaugeSample
	for i := range 100 {
		made = append(made, b.add(s, float64(i)))
	}
	for i, m := range made {
		assert.Equal(t, float64(i), write(t, m).GetGauge().GetValue())
	}
}

// constGauges sends each family's series in the order the registry sorts
// them (so its sort has nothing to do) and keeps every label and value.
func TestConstGaugesInRegistryOrder(t *testing.T) {
	family := map[*prometheus.Desc]string{
		targetGPUsDesc:     "vramfit_target_gpus_required",
		targetRequiredDesc: "vramfit_target_required_bytes",
		targetInfoDesc:     "vramfit_target_info",
	}
	var specs []gaugeSpec
	for i, name := range []string{"b", "a", "d", "c", "aa", "e"} {
		specs = append(specs, gaugeSpec{newSeries(targetGPUsDesc, name), float64(i)})
		for j, component := range []string{"weights", "total", "kv_cache"} {
			specs = append(specs, gaugeSpec{newSeries(targetRequiredDesc, name, component), float64(10*i + j)})
		}
		specs = append(specs, gaugeSpec{newSeries(targetInfoDesc, name, "m-"+name, "inference", "bf16", "detailed"), 1})
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(specs), func(i, j int) { specs[i], specs[j] = specs[j], specs[i] })
	want := map[string]float64{}
	for _, s := range specs {
		want[seriesKey(family[s.series.desc], s.series.labels)] = s.value
	}

	samples := constGauges(specs)
	sent := map[string][]string{} // each family's series in the order sent
	metrics := make(metricsCollector, len(samples))
	for i, m := range samples {
		out := write(t, m)
		name := family[m.Desc()]
		key := seriesKey(name, out.GetLabel())
		assert.Equal(t, want[key], out.GetGauge().GetValue(), key)
		delete(want, key)
		sent[name] = append(sent[name], key)
		metrics[i] = m
	}
	assert.Empty(t, want, "series lost")

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics)
	gathered, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, gathered, len(family))
	for _, f := range gathered {
		var sorted []string
		for _, m := range f.Metric {
			sorted = append(sorted, seriesKey(f.GetName(), m.GetLabel()))
		}
		assert.Equal(t, sorted, sent[f.GetName()])
	}
}

// metricsCollector sends its metrics, described as they come.
type metricsCollector []prometheus.Metric

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, m := range c {
		if !seen[m.Desc()] {
			seen[m.Desc()] = true
			ch <- m.Desc()
		}
	}
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

func seriesKey(family string, labels []*dto.LabelPair) string {
	key := family
	for _, l := range labels {
		key += "," + l.GetName() + "=" + l.GetValue()
	}
	return key
}
