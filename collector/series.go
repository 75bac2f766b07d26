package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series is one series of a family: its descriptor and its label pairs,
// built once and shared by all its samples. Building the label pairs is
// most of what prometheus.NewConstMetric costs, and a series' labels
// change far less often than its value: only when the targets or the
// devices do.
type series struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	// err is why the label values cannot be exported (text that is not
	// UTF-8): that series fails alone, never the scrape or the process.
	err error
}

// newSeries validates and builds the label pairs as client_golang does,
// through a const metric.
func newSeries(desc *prometheus.Desc, labelValues ...string) *series {
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, 0, labelValues...)
	if err != nil {
		return &series{desc: desc, err: err}
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		return &series{desc: desc, err: err}
	}
	return &series{desc: desc, labels: out.Label}
}

// of is the series of desc with s's labels; desc has s's label names.
func (s *series) of(desc *prometheus.Desc) *series {
	return &series{desc: desc, labels: s.labels, err: s.err}
}

// gaugeSample is a gauge's value in a series. It holds its dto.Gauge, so
// that the registry's Write allocates nothing, as for a const metric. A
// sample is immutable once made: one made at a reload is sent again at
// every scrape until the next.
type gaugeSample struct {
	series // a copy: the registry reads one object per sample
	value  float64
	gauge  dto.Gauge
}

func (m *gaugeSample) Desc() *prometheus.Desc { return m.desc }

// Write fails a series whose labels cannot be exported, as the invalid
// metric of client_golang does.
func (m *gaugeSample) Write(out *dto.Metric) error {
	if m.err != nil {
		return m.err
	}
	out.Label = m.labels
	out.Gauge = &m.gauge
	return nil
}

// gaugeSamples makes the samples of one scrape from one allocation.
type gaugeSamples []gaugeSample

// newGaugeSamples has room for n samples; more still work, at the cost of
// an allocation.
func newGaugeSamples(n int) gaugeSamples { return make(gaugeSamples, 0, n) }

// add returns s's sample of value v. Appending past the capacity moves
// the later samples only: the ones handed out before stay where they are,
// complete and unchanged.
func (b *gaugeSamples) add(s *series, v float64) *gaugeSample {
	*b = append(*b, gaugeSample{series: *s, value: v})
	m := &(*b)[len(*b)-1]
	m.gauge.Value = &m.value
	return m
}

// gaugeSpec is a sample to make: a series and its value.
type gaugeSpec struct {
	series *series
	value  float64
}

// constGauges makes samples sent at many scrapes, in the registry's order
// within each family. The samples and their label pairs are laid out in
// that order in a few arrays, so that the registry's sort and consistency
// check, which read every label pair of every sample, read memory in
// sequence rather than chase pointers across the heap.
func constGauges(specs []gaugeSpec) []*gaugeSample {
	// The registry orders a family's series by their label values, in the
	// order of the label names, which is the label pairs' order. The
	// values are copied side by side to sort on, so that the sort does not
	// chase the label pairs' pointers either.
	type keyed struct {
		spec   gaugeSpec
		values []string
	}
	n := 0
	for _, s := range specs {
		n += len(s.series.labels)
	}
	values := make([]string, 0, n)
	sorted := make([]keyed, len(specs))
	for i, s := range specs {
		for _, l := range s.series.labels {
			values = append(values, l.GetValue())
		}
		sorted[i] = keyed{s, values[len(values)-len(s.series.labels):]}
	}
	slices.SortFunc(sorted, func(a, b keyed) int { return slices.Compare(a.values, b.values) })

	pairs, pointers, texts := make([]dto.LabelPair, n), make([]*dto.LabelPair, n), make([]string, 2*n)
	b := newGaugeSamples(len(specs))
	out := make([]*gaugeSample, len(specs))
	j := 0
	for i, k := range sorted {
		s := *k.spec.series
		for _, l := range s.labels {
			texts[2*j], texts[2*j+1] = l.GetName(), l.GetValue()
			pairs[j].Name, pairs[j].Value = &texts[2*j], &texts[2*j+1]
			pointers[j] = &pairs[j]
			j++
		}
		s.labels = pointers[j-len(s.labels) : j : j]
		out[i] = b.add(&s, k.spec.value)
	}
	return out
}
