package collector

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

func TestPlacementNote(t *testing.T) {
	devices := []nvml.Device{{Index: 0}, {Index: 1}, {Index: 2}}
	tests := []struct {
		name         string
		gpusRequired int
		p            placement
		want         string
	}{
		{"fits", 2, placement{fits: true, devices: []int{2, 0}}, "on GPU 2, GPU 0"},
		{"busy devices", 2, placement{devices: []int{1, 2}}, "short of free memory on GPU 1, GPU 2"},
		// A 405B model on a host of three GPUs: naming the three would read
		// as a placement that does not exist.
		{"too few devices", 12, placement{devices: []int{0, 1, 2}}, "needs 12 GPUs; 3 can take it here"},
		{"no count fits", 0, placement{devices: []int{0}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, placementNote(devices, tc.gpusRequired, tc.p))
		})
	}
}

func TestGPURowDownNamesTheDeviceOnce(t *testing.T) {
	d := nvml.Device{Index: 7, Err: fmt.Errorf("gpu 7: %w", nvml.ErrGPULost)}
	assert.Equal(t, "gpu is lost", newGPURow(d).Down)
	d.Err = errors.New("unreadable memory: free above total")
	assert.Equal(t, "unreadable memory: free above total", newGPURow(d).Down)
}

// An unfit target's reason, long as it is, sits in a row of its own across
// the table, not in the GPU count's cell, which does not wrap; so do its
// warnings.
func TestStatusPageReasonsAndWarnings(t *testing.T) {
	path := writeTargets(t, `targets:
  - {name: long, model: {preset: llama-3-8b}, context: 100000, allow_long_context: true}
  - {name: huge, model: {preset: llama-3.1-8b}, workload: training, context: 32768, batch: 64}
`)
	c, _ := newTestCollector(t, openFleet(t, "rtx4090x2"), path)
	body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	reason := regexp.MustCompile(`<tr class="reason"><td colspan="7"><div><span class="no">No count of this host's GPUs fits it:</span> no number of [^<]+ fits: [^<]+would help: recompute: selective or full`)
	assert.Regexp(t, reason, body)
	assert.NotRegexp(t, `<td class="num">[^<]*no number of`, body, "no reason in a cell that does not wrap")
	assert.Regexp(t, `<div class="warning">Warning: [^<]*100000[^<]*</div>`, body)
}

// The page says when it was made and reloads itself without a script, and
// that each target is judged alone, with the answer for all of them at once.
func TestStatusPageTimeAndTogether(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	assert.Contains(t, body, `<meta http-equiv="refresh" content="30">`)
	assert.Regexp(t, `Updated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; the page reloads every 30 s.`, body)
	assert.Regexp(t, `From [^<]*targets.yml, loaded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC.`, body)
	assert.Contains(t, body, "Each target is judged alone, as if the host ran nothing else. All of them together:\n"+
		`<span class="no">do not fit now</span> (big, train, huge find no room beside the others);`+"\n"+
		`<span class="no">would not fit</span> with the GPUs idle.`)
	assert.NotContains(t, body, "The last reload")
	// How each target is spread, and what placement chose.
	assert.Contains(t, body, "tensor_parallel 1, pipeline_parallel 1 (chosen: tensor_parallel, pipeline_parallel)")
	assert.Contains(t, body, "tensor_parallel 2, pipeline_parallel 1 (chosen: pipeline_parallel)")
}

// A failed reload is on the page: its error, the file, and when the
// targets shown were loaded; a good reload takes the banner away.
func TestStatusPageFailedReload(t *testing.T) {
	path := writeTargets(t, oneTarget)
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: a, model: {preset: gpt2}, bach: 2}\n"), 0o600))
	_, err := store.Reload()
	require.Error(t, err)
	body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	assert.Regexp(t, `<div class="alert"><strong>The last reload of the targets file \Q`+path+`\E failed</strong> at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; `+
		`the targets below are those loaded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC.`, body)
	assert.Contains(t, body, `<pre class="error">`+path+`:2: targets[0]: unknown field &#34;bach&#34;; did you mean batch?</pre>`)

	// The parser quotes what it cannot read: the page, which anyone who
	// reaches the port may read, names the place only.
	secret := filepath.Join(t.TempDir(), "shadow")
	require.NoError(t, os.WriteFile(secret, []byte("root:$6$hash:19000::::::\n"), 0o600))
	require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: a, model: {hf_config: "+secret+"}}\n"), 0o600))
	_, err = store.Reload()
	require.ErrorContains(t, err, "'r'", "the parser's error quotes the file")
	body = serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	assert.Contains(t, body, `<pre class="error">`+path+`:2: targets[0].model: the model cannot be resolved; the agent&#39;s log and vramfit check-config say why</pre>`)
	assert.NotContains(t, body, "root")
	assert.NotContains(t, body, "&#39;r&#39;")

	require.NoError(t, os.WriteFile(path, []byte(oneTarget), 0o600))
	_, err = store.Reload()
	require.NoError(t, err)
	body = serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	assert.NotContains(t, body, "The last reload")
}
