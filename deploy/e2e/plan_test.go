//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
)

// planTimeout bounds one run of `vramfit plan`: a few queries to a local
// Prometheus.
const planTimeout = 60 * time.Second

// planTarget is the target `vramfit plan` is asked about, as target flags;
// testdata/plan-target.yml holds the same target for the agents.
var planTarget = []string{
	"--name=llama-3.3-70b-fp8-8k", "--model=llama-3-70b", "--workload=inference",
	"--precision=fp8", "--kv-cache-dtype=fp8", "--context=8192", "--batch=4",
}

// plannedTarget is the part of plan's JSON the test checks.
type plannedTarget struct {
	Target string `json:"target"`
	Hosts  []struct {
		Instance      string   `json:"instance"`
		FitsNow       bool     `json:"fits_now"`
		FitsWhenIdle  bool     `json:"fits_when_idle"`
		GPUsRequired  int      `json:"gpus_required"`
		HeadroomBytes int64    `json:"headroom_bytes"`
		Devices       []string `json:"devices"`
	} `json:"hosts"`
	HostsFitNow      int `json:"hosts_fit_now"`
	HostsFitWhenIdle int `json:"hosts_fit_when_idle"`
	Replicas         struct {
		Requested  int `json:"requested"`
		Placed     int `json:"placed"`
		Placements []struct {
			Instance string   `json:"instance"`
			Devices  []string `json:"devices"`
		} `json:"placements"`
		AdditionalGPUs []struct {
			GPU struct {
				Name string `json:"name"`
			} `json:"gpu"`
			GPUsPerReplica int `json:"gpus_per_replica"`
			GPUs           int `json:"gpus"`
		} `json:"additional_gpus"`
	} `json:"replicas"`
	StaleHosts []struct {
		Instance string `json:"instance"`
		Reason   string `json:"reason"`
	} `json:"stale_hosts"`
}

// TestPlan runs `vramfit plan` against Debian's Prometheus scraping three
// agents on different fake fleets, none configured with the target asked
// about: its answer for each host must be the one the agent itself gives
// once it loads the target, the replicas must take distinct free GPUs, and
// an agent that stops must be reported stale, not used.
func TestPlan(t *testing.T) {
	if os.Getenv("VRAMFIT_E2E") == "" {
		t.Skip("the end-to-end test needs Prometheus: run `make e2e`, or set VRAMFIT_E2E=1")
	}
	promBin := lookTool(t, "VRAMFIT_E2E_PROMETHEUS", "prometheus")
	out, work := outputDir(t), t.TempDir()
	binary := buildVramfit(t, work)

	// The agents run with every collector, as in TestEndToEnd: one fake
	// kubelet, with no pod, serves them all.
	kubelet := podresourcestest.Start(t)
	// The fleets, by the instance Prometheus will name each agent.
	fleets := map[string]*agent{}
	var addrs []string
	for _, fleet := range []string{"dgx-h100", "h200", "rtx4090x2"} {
		a := &agent{
			binary:  binary,
			addr:    freeAddress(t),
			fleet:   fleet,
			targets: filepath.Join(work, fleet+"-targets.yml"),
			log:     filepath.Join(out, "plan-"+fleet+".log"),
			kubelet: kubelet.Socket,
		}
		copyFile(t, filepath.Join("testdata", "no-targets.yml"), a.targets)
		truncate(t, a.log)
		a.start(t)
		fleets[a.addr] = a
		addrs = append(addrs, a.addr)
	}
	byFleet := func(fleet string) string {
		for addr, a := range fleets {
			if a.fleet == fleet {
				return addr
			}
		}
		t.Fatalf("no agent for fleet %s", fleet)
		return ""
	}

	rulesFile, _ := writeShortRules(t, deployDir, work)
	promAddr := freeAddress(t)
	config := filepath.Join(out, "plan-prometheus.yml")
	writePrometheusConfig(t, config, rulesFile, addrs...)
	promLog := filepath.Join(out, "plan-prometheus.log")
	truncate(t, promLog)
	prom := startProcess(t, "prometheus", promLog, promBin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(work, "prometheus"),
		"--web.listen-address="+promAddr)
	prom.waitReady(t, "http://"+promAddr+"/-/ready")
	api := newPromAPI(promAddr)
	waitSeries(t, api, `group by (instance) (vramfit_gpu_info{job="`+job+`"})`, 3)

	planArgs := func(output string) []string {
		return append([]string{"plan", "--prometheus.url=http://" + promAddr, `--prometheus.selector=job="` + job + `"`,
			"--replicas=4", "--output=" + output}, planTarget...)
	}
	allCurrent := func(stderr string) bool { return stderr == "" }
	p := decodePlan(t, planWhen(t, binary, planArgs("json"), allCurrent))
	require.Equal(t, "llama-3.3-70b-fp8-8k", p.Target)
	require.Len(t, p.Hosts, 3)
	require.Empty(t, p.StaleHosts)

	t.Log("== each host's answer is the agent's own, once it has the target")
	for _, h := range p.Hosts {
		a := fleets[h.Instance]
		require.NotNil(t, a, "host %s is none of the agents", h.Instance)
		copyFile(t, filepath.Join("testdata", "plan-target.yml"), a.targets)
		code, body := a.reload(t)
		require.Equal(t, http.StatusOK, code, body)
		own := agentTargets(t, a)
		require.Len(t, own.Targets, 1)
		now := own.Targets[0].Now
		require.NotNil(t, now, "%s has no placement", a.fleet)
		assert.Equal(t, now.Fits, h.FitsNow, "%s: fits now", a.fleet)
		assert.Equal(t, now.FitsWhenIdle, h.FitsWhenIdle, "%s: fits when idle", a.fleet)
		assert.Equal(t, now.HeadroomBytes, h.HeadroomBytes, "%s: headroom", a.fleet)
		assert.Equal(t, now.Devices, h.Devices, "%s: devices", a.fleet)
		assert.Equal(t, *own.Targets[0].GPUsRequired, h.GPUsRequired, "%s: GPUs required", a.fleet)
	}

	t.Log("== the fleet: where the replicas go, and what the rest need")
	// Two H100s (tensor parallel 2) of the DGX are free, and two more have
	// just enough room; the H200 is busy, two RTX 4090s are too few.
	assert.Equal(t, 1, p.HostsFitNow)
	assert.Equal(t, 2, p.HostsFitWhenIdle)
	r := p.Replicas
	assert.Equal(t, 4, r.Requested)
	require.Equal(t, 2, r.Placed)
	var taken []string
	for _, pos := range r.Placements {
		assert.Equal(t, byFleet("dgx-h100"), pos.Instance)
		require.Len(t, pos.Devices, 2)
		taken = append(taken, pos.Devices...)
	}
	assert.Len(t, slices.Compact(slices.Sorted(slices.Values(taken))), 4, "two replicas share a GPU: %v", taken)
	var more []string
	for _, a := range r.AdditionalGPUs {
		more = append(more, fmt.Sprintf("%s %d/replica %d", a.GPU.Name, a.GPUsPerReplica, a.GPUs))
	}
	assert.Equal(t, []string{
		"NVIDIA H200 1/replica 2",
		"NVIDIA H100 80GB HBM3 2/replica 4",
		"NVIDIA GeForce RTX 4090 4/replica 8",
	}, more)

	t.Log("== the same plan as a table, for a reader")
	table := planWhen(t, binary, planArgs("table"), allCurrent)
	require.NoError(t, os.WriteFile(filepath.Join(out, "plan.txt"), []byte(table), 0o644))
	for addr := range fleets {
		assert.Contains(t, table, addr)
	}
	assert.Contains(t, table, "replicas: 2 of 4 placed")

	t.Log("== an agent that stops is stale, and left out")
	rtx := byFleet("rtx4090x2")
	fleets[rtx].stop(t)
	waitSeries(t, api, `up{job="`+job+`",instance="`+rtx+`"} == 0`, 1)
	var stderr string
	p = decodePlan(t, planWhen(t, binary, planArgs("json"), func(warnings string) bool {
		stderr = warnings
		return strings.Count(warnings, "left out ") == 1 && strings.Contains(warnings, "left out "+rtx)
	}))
	require.Len(t, p.StaleHosts, 1)
	assert.Equal(t, rtx, p.StaleHosts[0].Instance)
	assert.Contains(t, p.StaleHosts[0].Reason, "up is 0")
	assert.Contains(t, stderr, "(job vramfit): its last scrape failed (up is 0)")
	require.Len(t, p.Hosts, 2)
	for _, h := range p.Hosts {
		assert.NotEqual(t, rtx, h.Instance)
	}

	t.Log("== a selector that matches no agent is an error")
	cmd := exec.Command(binary, append([]string{"plan", "--prometheus.url=http://" + promAddr,
		`--prometheus.selector=job="nothing"`}, planTarget...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, errOut.String(), `no vramfit agent matches {job="nothing"}`)
}

// planWhen runs `vramfit plan` with args, which must succeed, until ready
// accepts what it wrote on stderr, and returns its stdout. On a busy
// machine one scrape can time out, and the agent is stale until the next.
func planWhen(t *testing.T, binary string, args []string, ready func(stderr string) bool) string {
	t.Helper()
	deadline := time.Now().Add(dataTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), planTimeout)
		cmd := exec.CommandContext(ctx, binary, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		require.NoError(t, err, "vramfit %v: %s", args, stderr.String())
		if ready(stderr.String()) {
			return stdout.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("vramfit %v: within %s, stderr never became what the test waits for; the last: %s", args, dataTimeout, stderr.String())
		}
		time.Sleep(pollInterval)
	}
}

// decodePlan decodes plan's JSON, which must hold one target.
func decodePlan(t *testing.T, stdout string) plannedTarget {
	t.Helper()
	var p plannedTarget
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&p), "plan's output: %s", stdout)
	require.False(t, dec.More(), "plan printed more than one target")
	return p
}

// agentAnswer is the part of an agent's /api/v1/targets the test compares.
type agentAnswer struct {
	Targets []struct {
		GPUsRequired *int `json:"gpus_required"`
		Now          *struct {
			Fits          bool     `json:"fits"`
			FitsWhenIdle  bool     `json:"fits_when_idle"`
			HeadroomBytes int64    `json:"headroom_bytes"`
			Devices       []string `json:"devices"`
		} `json:"now"`
	} `json:"targets"`
}

func agentTargets(t *testing.T, a *agent) agentAnswer {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(a.url("/api/v1/targets"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var answer agentAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	return answer
}

// waitSeries polls expr until it returns n series.
func waitSeries(t *testing.T, api *promAPI, expr string, n int) {
	t.Helper()
	deadline := time.Now().Add(dataTimeout)
	for {
		series, err := api.query(expr)
		if err == nil && len(series) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not return %d series within %s (last: %d series, %v)", expr, n, dataTimeout, len(series), err)
		}
		time.Sleep(pollInterval)
	}
}
