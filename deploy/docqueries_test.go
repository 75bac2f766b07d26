package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPromQLBlocks(t *testing.T) {
	doc := "text\n```promql\n# hosts\nsum(up)\n  by (job)\n```\n```sh\nnot promql\n```\n```promql\nvramfit_gpu_up == 0\n```\n"
	got, err := promqlBlocks("a.md", []byte(doc))
	require.NoError(t, err)
	assert.Equal(t, []Query{
		{Source: "a.md:3", Expr: "sum(up)\n  by (job)"},
		{Source: "a.md:11", Expr: "vramfit_gpu_up == 0"},
	}, got)

	_, err = promqlBlocks("b.md", []byte("```promql\nup\n"))
	assert.EqualError(t, err, "b.md:2: promql block never closed")
	_, err = promqlBlocks("c.md", []byte("```promql\n# only a comment\n```\n"))
	assert.EqualError(t, err, "c.md:2: empty promql block")
}

// The README and the docs hold PromQL examples; `make test-rules` hands each
// to promtool. This guards the extraction: a doc's examples are all found.
func TestDocQueriesFindsTheExamples(t *testing.T) {
	queries, err := DocQueries("..")
	require.NoError(t, err)
	bySource := map[string]int{}
	for _, q := range queries {
		file := q.Source[:strings.LastIndex(q.Source, ":")]
		bySource[file]++
	}
	assert.GreaterOrEqual(t, bySource["README.md"], 3)
	assert.GreaterOrEqual(t, bySource["docs/metrics.md"], 10)
}
