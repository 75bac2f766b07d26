package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordedAnswers holds, by query, the bodies a real Prometheus gave to
// plan's queries with --prometheus.selector='job="vramfit"'. It scraped four
// agents on the fake fleets dgx-h100, h200, rtx4090x2 and mig-a100, each
// relabelled to the instance <fleet>:9847.
const recordedAnswers = "testdata/plan/prometheus.json"

const (
	membersQuery    = `group by (job, instance) (last_over_time(vramfit_build_info{job="vramfit"}[1h]))`
	upQuery         = `up{job="vramfit"}`
	timestampsQuery = `timestamp(vramfit_gpu_up{job="vramfit"})`
)

// fakePrometheus answers the instant query API from recorded bodies.
type fakePrometheus struct {
	answers map[string]json.RawMessage
	// age is how old the GPU samples are at the query's time: the recorded
	// timestamps are moved to match.
	age time.Duration
}

func newFakePrometheus(t *testing.T) *fakePrometheus {
	t.Helper()
	data, err := os.ReadFile(recordedAnswers)
	require.NoError(t, err)
	f := &fakePrometheus{age: time.Second}
	require.NoError(t, json.Unmarshal(data, &f.answers))
	return f
}

// set replaces the answer to query by a vector of series, each given as its
// labels and value.
func (f *fakePrometheus) set(t *testing.T, query string, series ...map[string]string) {
	t.Helper()
	result := make([]map[string]any, len(series))
	for i, s := range series {
		labels := map[string]string{}
		for k, v := range s {
			if k != "value" {
				labels[k] = v
			}
		}
		result[i] = map[string]any{"metric": labels, "value": []any{0, s["value"]}}
	}
	body, err := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	require.NoError(t, err)
	f.answers[query] = body
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	query, at := r.FormValue("query"), r.FormValue("time")
	body, ok := f.answers[query]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"no recorded answer to %q"}`, query)
		return
	}
	if query == timestampsQuery {
		body = f.stamped(body, at)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// stamped rewrites every sample of a timestamp() answer to at less f.age.
func (f *fakePrometheus) stamped(body json.RawMessage, at string) json.RawMessage {
	var answer struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		panic(err) // the recorded file is the test's own
	}
	seconds, _ := strconv.ParseFloat(at, 64)
	for i := range answer.Data.Result {
		answer.Data.Result[i].Value = [2]any{seconds, strconv.FormatFloat(seconds-f.age.Seconds(), 'f', 3, 64)}
	}
	out, _ := json.Marshal(answer)
	return out
}

// runPlan runs `vramfit plan` against url with args.
func runPlan(t *testing.T, url string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(append([]string{"plan", "--prometheus.url=" + url, `--prometheus.selector={job="vramfit"}`}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

// planJSON runs plan with --output json and decodes its one object.
func planJSON(t *testing.T, url string, args ...string) (targetPlan, string) {
	t.Helper()
	status, stdout, stderr := runPlan(t, url, append(args, "--output=json")...)
	require.Equal(t, 0, status, stderr)
	var p targetPlan
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&p), stdout)
	require.False(t, dec.More(), "more than one object: %s", stdout)
	return p, stderr
}

// The target of the e2e test on the recorded fleet: tensor parallel 2 on
// H100s, one H200, four RTX 4090s, and no MIG instance.
var llama70bFP8 = []string{"--name=llama-70b", "--model=llama-3-70b", "--precision=fp8", "--kv-cache-dtype=fp8", "--context=8192", "--batch=4"}

func TestPlanFleet(t *testing.T) {
	srv := httptest.NewServer(newFakePrometheus(t))
	defer srv.Close()
	p, stderr := planJSON(t, srv.URL, append(llama70bFP8, "--replicas=4")...)
	assert.Empty(t, stderr)

	type verdict struct {
		instance       string
		gpus           int
		now, idle      bool
		positive       bool
		devicesChosen  int
		unfitSomewhere bool
	}
	var got []verdict
	for _, h := range p.Hosts {
		got = append(got, verdict{h.Instance, h.GPUsRequired, h.FitsNow, h.FitsWhenIdle, h.HeadroomBytes >= 0, len(h.Devices), h.UnfitReason != ""})
	}
	// Hosts in instance order. The A100 host's GPU model is the whole
	// A100, but it has one: the other is split into MIG instances, which
	// a two-GPU target cannot span.
	assert.Equal(t, []verdict{
		{"dgx-h100:9847", 2, true, true, true, 2, false},
		{"h200:9847", 1, false, true, false, 1, false},
		{"mig-a100:9847", 2, false, false, false, 1, false},
		{"rtx4090x2:9847", 4, false, false, false, 2, false},
	}, got)
	assert.Equal(t, 1, p.HostsFitNow)
	assert.Equal(t, 2, p.HostsFitWhenIdle)

	r := p.Replicas
	assert.Equal(t, 4, r.Requested)
	require.Equal(t, 2, r.Placed)
	seen := map[string]bool{}
	for _, pos := range r.Placements {
		assert.Equal(t, "dgx-h100:9847", pos.Instance)
		assert.Equal(t, "NVIDIA H100 80GB HBM3", pos.GPU)
		require.Len(t, pos.Devices, 2)
		for _, d := range pos.Devices {
			assert.False(t, seen[d], "GPU %s holds two replicas", d)
			seen[d] = true
		}
	}
	var more []string
	for _, a := range r.AdditionalGPUs {
		more = append(more, fmt.Sprintf("%s: %d × %d", a.GPU.Name, a.GPUsPerReplica, a.GPUs/max(a.GPUsPerReplica, 1)))
	}
	assert.Equal(t, []string{
		"NVIDIA H200: 1 × 2",
		"NVIDIA A100-SXM4-80GB: 2 × 2",
		"NVIDIA H100 80GB HBM3: 2 × 2",
		"NVIDIA GeForce RTX 4090: 4 × 2",
	}, more)
}

// A single-GPU target takes MIG instances as well as whole GPUs, one
// replica per device; a multi-GPU target never spans MIG instances.
func TestPlanMIG(t *testing.T) {
	srv := httptest.NewServer(newFakePrometheus(t))
	defer srv.Close()
	small := []string{"--model=llama-2-7b", "--precision=int4", "--context=2048", "--replicas=100"}
	p, _ := planJSON(t, srv.URL, small...)
	onMIG := map[string]int{}
	for _, pos := range p.Replicas.Placements {
		require.Len(t, pos.Devices, 1)
		if strings.HasPrefix(pos.Devices[0], "MIG-") {
			onMIG[pos.GPU]++
		}
	}
	// The 2g.20gb and both 1g.10gb instances have room for one each; the
	// 3g.40gb, with 3.9 GiB free, has not.
	assert.Equal(t, map[string]int{"NVIDIA A100-SXM4-80GB MIG 2g.20gb": 1, "NVIDIA A100-SXM4-80GB MIG 1g.10gb": 2}, onMIG)
	assert.Less(t, p.Replicas.Placed, 100)
	for _, a := range p.Replicas.AdditionalGPUs {
		assert.NotContains(t, a.GPU.Name, "MIG", "a MIG instance is not a GPU one can add")
		assert.Equal(t, 100-p.Replicas.Placed, a.GPUs)
	}

	// Tensor parallel 2 over MIG instances would fit their free memory,
	// but a MIG instance takes single-GPU targets only.
	p, _ = planJSON(t, srv.URL, "--model=llama-2-7b", "--precision=int4", "--context=2048", "--tensor-parallel=2", "--replicas=100")
	for _, pos := range p.Replicas.Placements {
		for _, d := range pos.Devices {
			assert.True(t, strings.HasPrefix(d, "GPU-"), "replica on %v", pos.Devices)
		}
	}
}

// The estimator's warnings about a target go to stderr, as estimate's do.
func TestPlanWarnings(t *testing.T) {
	srv := httptest.NewServer(newFakePrometheus(t))
	defer srv.Close()
	p, stderr := planJSON(t, srv.URL, "--name=bare", "--parameters=13B")
	assert.Len(t, p.Hosts, 4)
	assert.Contains(t, stderr, "vramfit plan: bare: warning: ")
}

func TestPlanTable(t *testing.T) {
	srv := httptest.NewServer(newFakePrometheus(t))
	defer srv.Close()
	status, stdout, stderr := runPlan(t, srv.URL, append(llama70bFP8, "--replicas=4")...)
	require.Equal(t, 0, status, stderr)
	for _, want := range []string{
		"target llama-70b: fits now on 1 of 4 hosts, when idle on 2",
		"dgx-h100:9847 NVIDIA H100 80GB HBM3 2 yes yes",
		"rtx4090x2:9847 NVIDIA GeForce RTX 4090 4 no no -",
		"replicas: 2 of 4 placed",
		"2 more NVIDIA H200 (1 per replica)",
	} {
		assert.Contains(t, squeeze(stdout), want)
	}
}

// Agents without current data are left out, named on stderr and in the
// answer; when none is left, or Prometheus holds no agent, plan fails and
// says why.
func TestPlanStale(t *testing.T) {
	var goneTen []string // the ten an error names of twelve stale agents
	for i := range 10 {
		goneTen = append(goneTen, fmt.Sprintf("gone-%02d:9847: Prometheus no longer scrapes it (no up series)", i))
	}
	tests := []struct {
		name  string
		setUp func(t *testing.T, f *fakePrometheus)
		// stale are the instances left out, with their reason.
		stale map[string]string
		// err, when set, is the error plan must fail with (status 1).
		err string
	}{
		{name: "a failed scrape", setUp: func(t *testing.T, f *fakePrometheus) {
			f.set(t, upQuery,
				map[string]string{"job": "vramfit", "instance": "dgx-h100:9847", "value": "1"},
				map[string]string{"job": "vramfit", "instance": "h200:9847", "value": "0"},
				map[string]string{"job": "vramfit", "instance": "mig-a100:9847", "value": "1"},
				map[string]string{"job": "vramfit", "instance": "rtx4090x2:9847", "value": "1"})
		}, stale: map[string]string{"h200:9847": "its last scrape failed (up is 0)"}},
		{name: "no longer scraped", setUp: func(t *testing.T, f *fakePrometheus) {
			f.set(t, upQuery,
				map[string]string{"job": "vramfit", "instance": "dgx-h100:9847", "value": "1"},
				map[string]string{"job": "vramfit", "instance": "mig-a100:9847", "value": "1"},
				map[string]string{"job": "vramfit", "instance": "rtx4090x2:9847", "value": "1"})
		}, stale: map[string]string{"h200:9847": "Prometheus no longer scrapes it (no up series)"}},
		{name: "samples older than max-age", setUp: func(t *testing.T, f *fakePrometheus) {
			f.age = 10 * time.Minute
		}, err: "no agent of the Prometheus at URL has current GPU data: dgx-h100:9847: its GPU samples are 10m0s old, older than --prometheus.max-age=2m; "},
		{name: "no agent", setUp: func(t *testing.T, f *fakePrometheus) {
			f.set(t, membersQuery)
		}, err: `no vramfit agent matches {job="vramfit"} in the last 1h on the Prometheus at URL (vramfit_build_info is empty): check --prometheus.selector and that Prometheus scrapes the agents`},
		{name: "many stale agents", setUp: func(t *testing.T, f *fakePrometheus) {
			var members []map[string]string
			for i := range 12 {
				members = append(members, map[string]string{"job": "vramfit", "instance": fmt.Sprintf("gone-%02d:9847", i), "value": "1"})
			}
			f.set(t, membersQuery, members...)
		}, err: "no agent of the Prometheus at URL has current GPU data: " + strings.Join(goneTen, "; ") + "; and 2 more\n"},
		{name: "an agent without GPUs", setUp: func(t *testing.T, f *fakePrometheus) {
			f.set(t, membersQuery, map[string]string{"job": "vramfit", "instance": "gpu-less:9847", "value": "1"})
			f.set(t, upQuery, map[string]string{"job": "vramfit", "instance": "gpu-less:9847", "value": "1"})
		}, err: `no agent of the Prometheus at URL has current GPU data: gpu-less:9847: it exports no GPU`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePrometheus(t)
			tt.setUp(t, f)
			srv := httptest.NewServer(f)
			defer srv.Close()
			if tt.err != "" {
				status, stdout, stderr := runPlan(t, srv.URL, llama70bFP8...)
				assert.Equal(t, 1, status)
				assert.Empty(t, stdout)
				assert.Contains(t, stderr, strings.ReplaceAll(tt.err, "URL", srv.URL))
				assert.True(t, strings.HasPrefix(stderr, "vramfit plan: "), stderr)
				return
			}
			p, stderr := planJSON(t, srv.URL, llama70bFP8...)
			got := map[string]string{}
			for _, s := range p.StaleHosts {
				got[s.Instance] = s.Reason
				assert.Contains(t, stderr, "vramfit plan: warning: left out "+s.Instance+" (job vramfit): "+s.Reason+"\n")
			}
			assert.Equal(t, tt.stale, got)
			for _, h := range p.Hosts {
				assert.NotContains(t, tt.stale, h.Instance, "a stale host is used")
			}
			assert.Len(t, p.Hosts, 4-len(tt.stale))
		})
	}
}

// Prometheus unreachable, rejecting the selector, too slow, or not
// Prometheus (refusing the credentials: TestPlanHTTPConfig): each is one line that says what is wrong, and status 1.
func TestPlanPrometheusErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	// hung answers nothing until the test ends; it reads the request
	// first, so that it sees the client go away.
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:23: parse error: unexpected identifier"}`)
	}))
	defer rejecting.Close()
	notPrometheus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html>Grafana</html>")
	}))
	defer notPrometheus.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity) // how Prometheus answers a query that fails to run
		fmt.Fprint(w, `{"status":"error","errorType":"execution","error":"query timed out"}`)
	}))
	defer failing.Close()
	scalar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[0,"1"]}}`)
	}))
	defer scalar.Close()
	tests := []struct {
		name, url string
		args      []string
		err       string
	}{
		{"unreachable", closed.URL, nil, "vramfit plan: cannot query Prometheus at " + closed.URL + ": "},
		{"too slow", hung.URL, []string{"--prometheus.timeout=50ms"}, "vramfit plan: the Prometheus at " + hung.URL + " did not answer within --prometheus.timeout"},
		{"bad selector", rejecting.URL, nil, "vramfit plan: the Prometheus at " + rejecting.URL + " rejects the query "},
		{"not Prometheus", notPrometheus.URL, nil, "vramfit plan: the Prometheus at " + notPrometheus.URL + " does not answer as Prometheus's API does ("},
		{"failing", failing.URL, nil, "vramfit plan: the Prometheus at " + failing.URL + " failed the query group by (job, instance) " +
			`(last_over_time(vramfit_build_info{job="vramfit"}[1h])): execution: query timed out` + "\n"},
		{"not a vector", scalar.URL, nil, "vramfit plan: the Prometheus at " + scalar.URL + " answered group by (job, instance) " +
			`(last_over_time(vramfit_build_info{job="vramfit"}[1h])) with a scalar, want a vector` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runPlan(t, tt.url, append(tt.args, llama70bFP8...)...)
			assert.Equal(t, 1, status)
			assert.Empty(t, stdout)
			assert.True(t, strings.HasPrefix(stderr, tt.err), "stderr: %q", stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
}

// requireBasicAuth lets through only requests with the user and password.
func requireBasicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="prometheus"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// --prometheus.http-config.file gives the credentials and the CA, as
// Prometheus's own http_config does; without them the query fails.
func TestPlanHTTPConfig(t *testing.T) {
	basic := httptest.NewServer(requireBasicAuth("planner", "s3cret", newFakePrometheus(t)))
	defer basic.Close()
	bearer := httptest.NewServer(requireBearer("t0ken", newFakePrometheus(t)))
	defer bearer.Close()
	tlsServer := httptest.NewTLSServer(newFakePrometheus(t))
	defer tlsServer.Close()

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "password"), []byte("s3cret\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("t0ken\n"), 0o600))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600))
	tests := []struct {
		name, url, config string
		// withoutErr is how the query fails without the config.
		withoutErr string
	}{
		{"basic auth", basic.URL, "basic_auth:\n  username: planner\n  password_file: password\n",
			"vramfit plan: the Prometheus at " + basic.URL + " refuses the query (client error: 401): check that --prometheus.url is Prometheus's address " +
				"(its API is under /api/v1) and the credentials of --prometheus.http-config.file\n"},
		{"bearer token", bearer.URL, "authorization:\n  credentials_file: token\n", "refuses the query (client error: 401)"},
		{"TLS with a private CA", tlsServer.URL, "tls_config:\n  ca_file: ca.pem\n", "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runPlan(t, tt.url, llama70bFP8...)
			assert.Equal(t, 1, status)
			assert.Contains(t, stderr, tt.withoutErr)

			config := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yml")
			require.NoError(t, os.WriteFile(config, []byte(tt.config), 0o600))
			p, _ := planJSON(t, tt.url, append(llama70bFP8, "--prometheus.http-config.file="+config)...)
			assert.Len(t, p.Hosts, 4)
		})
	}
}

// requireBearer lets through only requests with the bearer token.
func requireBearer(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Bad flags end the program with status 2 and one line naming the flag and
// what is valid, before Prometheus is asked anything.
func TestPlanBadFlags(t *testing.T) {
	asked := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { asked = true }))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "missing.yml")
	empty := filepath.Join(t.TempDir(), "empty.yml")
	require.NoError(t, os.WriteFile(empty, []byte("targets: []\n"), 0o600))
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"--prometheus.url=prometheus:9090"}, `vramfit plan: --prometheus.url "prometheus:9090": want an http:// or https:// address such as http://prometheus:9090` + "\n"},
		{[]string{"--prometheus.url=" + srv.URL, "--replicas=0"}, "vramfit plan: --replicas 0: want 1 to 1048576\n"},
		{[]string{"--prometheus.url=" + srv.URL, "--replicas=1048577"}, "vramfit plan: --replicas 1048577: want 1 to 1048576\n"},
		{[]string{"--prometheus.url=" + srv.URL, "--prometheus.max-age=0s"}, "vramfit plan: --prometheus.max-age 0s: want a positive duration such as 2m\n"},
		{[]string{"--prometheus.url=" + srv.URL, "--prometheus.timeout=-1s"}, "vramfit plan: --prometheus.timeout -1s: want a positive duration such as 2m\n"},
		{[]string{"--prometheus.url=" + srv.URL, "--prometheus.http-config.file=" + missing}, "vramfit plan: --prometheus.http-config.file: open " + missing},
		{[]string{"--prometheus.url=" + srv.URL, "--config.file=x.yml", "--batch=4"},
			"vramfit plan: --config.file takes the targets from the file; drop --batch, --model (only --method, --replicas, --output and the --prometheus flags combine with it)\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		status := run(append([]string{"plan", "--model=llama-3-8b"}, tt.args...), &stdout, &stderr)
		assert.Equal(t, 2, status, "%v", tt.args)
		assert.Empty(t, stdout.String(), "%v", tt.args)
		assert.True(t, strings.HasPrefix(stderr.String(), tt.err), "%v: %q", tt.args, stderr.String())
	}
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"plan", "--model=llama-3-8b"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "required flag(s) '--prometheus.url' not provided")
	stderr.Reset()
	assert.Equal(t, 2, run([]string{"plan", "--prometheus.url=" + srv.URL, "--config.file=" + empty}, &stdout, &stderr))
	assert.Equal(t, "vramfit plan: --config.file "+empty+" holds no target: nothing to plan\n", stderr.String())
	assert.False(t, asked, "Prometheus was queried despite a bad flag")
}

// Samples no agent would export are not trusted: a device reserving more
// than its total, or without free memory, is down, and a host whose devices
// are all down takes nothing.
func TestPlanBadSamples(t *testing.T) {
	tests := []struct {
		name  string
		setUp func(t *testing.T, f *fakePrometheus)
		down  []string // the hosts left with no device up
	}{
		{"reserved above total", func(t *testing.T, f *fakePrometheus) {
			f.set(t, `vramfit_gpu_memory_reserved_bytes{job="vramfit"}`, map[string]string{
				"job": "vramfit", "instance": "h200:9847", "gpu": "0", "uuid": "GPU-96914c00-abf6-c532-2e66-e54992d81ab5", "value": "1e300"})
		}, []string{"h200:9847"}},
		{"no free memory series", func(t *testing.T, f *fakePrometheus) {
			f.set(t, `vramfit_gpu_memory_free_bytes{job="vramfit"}`)
		}, []string{"dgx-h100:9847", "h200:9847", "mig-a100:9847", "rtx4090x2:9847"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePrometheus(t)
			tt.setUp(t, f)
			srv := httptest.NewServer(f)
			defer srv.Close()
			p, _ := planJSON(t, srv.URL, llama70bFP8...)
			require.Len(t, p.Hosts, 4)
			var down []string
			for _, h := range p.Hosts {
				if h.GPU == nil {
					down = append(down, h.Instance)
					assert.Equal(t, "no GPU of the host answers", h.UnfitReason, h.Instance)
					assert.False(t, h.FitsNow || h.FitsWhenIdle, h.Instance)
				}
			}
			assert.Equal(t, tt.down, down)
		})
	}
}

// --config.file plans every target of the file, one JSON object each, in
// file order.
func TestPlanConfigFile(t *testing.T) {
	srv := httptest.NewServer(newFakePrometheus(t))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "targets.yml")
	require.NoError(t, os.WriteFile(path, []byte(`targets:
  - {name: small, model: {preset: llama-3-8b}, precision: bf16, context: 4096}
  - {name: big, model: {preset: llama-3.1-405b}, precision: bf16, context: 8192}
`), 0o600))
	status, stdout, stderr := runPlan(t, srv.URL, "--config.file="+path, "--output=json")
	require.Equal(t, 0, status, stderr)
	var names []string
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var p targetPlan
		require.NoError(t, dec.Decode(&p))
		names = append(names, p.Target)
		if p.Target == "big" {
			assert.Zero(t, p.HostsFitWhenIdle, "405B in BF16 fits on no host of the fleet")
		}
	}
	assert.Equal(t, []string{"small", "big"}, names)
}
