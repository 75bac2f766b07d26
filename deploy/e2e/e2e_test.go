//go:build linux

// Package e2e is vramfit's end-to-end test. It runs the agent on a fake GPU
// host, a real Prometheus that scrapes it and evaluates the rules of
// deploy/prometheus, and headless Chromium on the status page; it evaluates
// every dashboard query and rule, then breaks the host in several ways and
// waits for the matching alerts. `make e2e` runs it; plain `go test` skips it.
package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
	"github.com/vramfit/vramfit/deploy"
)

const (
	// job is the scrape job the rules and the dashboard expect.
	job = "vramfit"
	// deployDir and repoRoot are relative to this package's directory, where
	// `go test` runs the test.
	deployDir = ".."
	repoRoot  = "../.."
	// dataTimeout bounds the wait for the first scrapes and rule
	// evaluations; alertTimeout the wait for alerts after a change. Both
	// take a few seconds at a scrape and evaluation interval of 1 s.
	dataTimeout  = 30 * time.Second
	alertTimeout = 30 * time.Second
	// lostGPU is the GPU the fleet fault takes away: one of the busy ones, so
	// that every example target still fits on the four idle GPUs.
	lostGPU = "7"
	// chatTarget is the example target the dashboard is also evaluated for
	// alone. It is an inference target, so that every panel has data for it
	// (concurrent sequences exist for inference only).
	chatTarget = "llama-3-8b-chat"
)

// emptyWhenHealthy lists, with the reason, the expressions that must return
// nothing on the healthy host: the conditions of the alerts. Every other
// expression, dashboard query or recording rule, must return at least one
// series.
var emptyWhenHealthy = map[string]string{
	"alert VramfitTargetNoLongerFits":        "every target fits in the memory free on the four idle GPUs",
	"alert VramfitTargetExceedsHardware":     "every target fits on eight idle H100s",
	"alert VramfitTargetHeadroomLow":         "every target has more than 4 GiB of headroom on an idle H100",
	"alert VramfitTargetFitsNowhere":         "every target fits on the one host of the job",
	"alert VramfitTargetFitsNowhereEvenIdle": "every target fits on the one host of the job",
	"alert VramfitGPUDown":                   "every GPU answers",
	"alert VramfitNVMLFailing":               "the fake NVML answers",
	"alert VramfitConfigReloadFailed":        "the targets file loaded",
	"alert VramfitExporterDown":              "the agent is scraped",
	"alert VramfitExporterAbsent":            "the job has its target",
}

// The alerts each change of the world must leave active, and firing: the
// key of each is its name and its target or GPU label.
var (
	// The two targets of testdata/unfit-targets.yml.
	alertsAfterReload = []string{
		"VramfitTargetNoLongerFits target=llama-3-70b-bf16-tp8",
		"VramfitTargetExceedsHardware target=llama-3.1-405b-bf16",
		// The job has one host, so the fleet alerts fire too.
		"VramfitTargetFitsNowhere target=llama-3-70b-bf16-tp8",
		"VramfitTargetFitsNowhereEvenIdle target=llama-3.1-405b-bf16",
	}
	// Seven GPUs left: the target pinned to eight cannot fit even idle.
	alertsAfterGPULost = []string{
		"VramfitGPUDown gpu=" + lostGPU,
		"VramfitTargetExceedsHardware target=llama-3-70b-bf16-tp8",
		"VramfitTargetExceedsHardware target=llama-3.1-405b-bf16",
		"VramfitTargetFitsNowhereEvenIdle target=llama-3-70b-bf16-tp8",
		"VramfitTargetFitsNowhereEvenIdle target=llama-3.1-405b-bf16",
	}
	alertsAfterFailedReload = append([]string{"VramfitConfigReloadFailed"}, alertsAfterGPULost...)
	// Once the agent stops, its series go stale and only this one is left.
	alertsAfterAgentDown = []string{"VramfitExporterDown"}
)

// world is everything the test started and where it writes.
type world struct {
	out       string // the output directory: logs, DOM, screenshot
	work      string // temporary files
	chromium  string
	agent     *agent
	kubelet   *podresourcestest.Server
	prom      *promAPI
	rules     []deploy.RuleGroup
	dashboard *deploy.Dashboard
	started   time.Time
}

func TestEndToEnd(t *testing.T) {
	if os.Getenv("VRAMFIT_E2E") == "" {
		t.Skip("the end-to-end test needs Prometheus and Chromium: run `make e2e`, or set VRAMFIT_E2E=1")
	}
	w := setUp(t)

	t.Log("== the healthy host: every dashboard query and rule answers")
	w.checkHealthy(t)

	t.Log("== who holds the GPUs: processes and pods")
	w.checkHolders(t)

	t.Log("== reload to targets that do not fit")
	w.reloadUnfitTargets(t)

	t.Log("== GPU " + lostGPU + " is lost")
	w.loseGPU(t)

	t.Log("== the status page in Chromium")
	w.checkStatusPage(t)

	t.Log("== the status page of every built-in fleet")
	w.checkFleetPages(t)

	t.Log("== a reload that fails")
	w.failReload(t)

	t.Log("== the agent stops")
	w.agent.stop(t)
	w.prom.waitAlerts(t, alertsAfterAgentDown)

	t.Log("== the dashboard's time series over the whole run")
	w.checkDashboardRange(t)
}

// setUp builds vramfit and starts it with the fleet and the example targets,
// then Prometheus, and waits until data is in.
func setUp(t *testing.T) *world {
	promBin := lookTool(t, "VRAMFIT_E2E_PROMETHEUS", "prometheus")
	w := &world{
		out:      outputDir(t),
		work:     t.TempDir(),
		chromium: lookTool(t, "VRAMFIT_E2E_CHROMIUM", "chromium"),
		started:  time.Now(),
	}
	var err error
	w.dashboard, err = deploy.LoadDashboard(deployDir)
	require.NoError(t, err)

	w.kubelet = podresourcestest.Start(t)
	w.agent = &agent{
		binary:  buildVramfit(t, w.work),
		addr:    freeAddress(t),
		fleet:   filepath.Join(w.work, "fleet.yml"),
		targets: filepath.Join(w.work, "targets.yml"),
		log:     filepath.Join(w.out, "vramfit.log"),
		kubelet: w.kubelet.Socket,
	}
	copyFile(t, filepath.Join("testdata", "fleet.yml"), w.agent.fleet)
	copyFile(t, filepath.Join(deployDir, deploy.ExampleTargetsFile), w.agent.targets)
	truncate(t, w.agent.log)
	w.agent.start(t)

	rulesFile, groups := writeShortRules(t, deployDir, w.work)
	w.rules = groups
	promAddr := freeAddress(t)
	config := filepath.Join(w.out, "prometheus.yml")
	writePrometheusConfig(t, config, rulesFile, w.agent.addr)
	promLog := filepath.Join(w.out, "prometheus.log")
	truncate(t, promLog)
	prom := startProcess(t, "prometheus", promLog, promBin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(w.work, "prometheus"),
		"--web.listen-address="+promAddr)
	prom.waitReady(t, "http://"+promAddr+"/-/ready")
	w.prom = newPromAPI(promAddr)
	w.waitForData(t)
	return w
}

// lookTool finds a program by the name in env, or by name, and fails with
// how to install it: `make e2e` must fail, not skip, without it.
func lookTool(t *testing.T, env, name string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		name = v
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%v: the end-to-end test needs Prometheus and Chromium; on Debian or Ubuntu run "+
			"`apt-get install prometheus chromium`, or set %s to the program", err, env)
	}
	return path
}

// outputDir is where the logs, the DOM and the screenshot go:
// $VRAMFIT_E2E_OUT, or out/e2e at the top of the repository.
func outputDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VRAMFIT_E2E_OUT")
	if dir == "" {
		dir = filepath.Join(repoRoot, "out", "e2e")
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("output in %s", dir)
	return dir
}

// buildVramfit builds the binary from this checkout, with the linker flags
// in $VRAMFIT_E2E_LDFLAGS (`make e2e` passes the version stamps of `make
// build`, which the status page shows).
func buildVramfit(t *testing.T, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "vramfit")
	cmd := exec.Command("go", "build", "-ldflags", os.Getenv("VRAMFIT_E2E_LDFLAGS"), "-o", binary, "./cmd/vramfit")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/vramfit:\n%s", out)
	return binary
}

// waitForData waits until Prometheus scrapes the agent, has evaluated every
// rule, and has stored every recorded series; then every rule of the rule
// files must be loaded and healthy.
func (w *world) waitForData(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(dataTimeout)
	for {
		missing := w.missingData()
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data within %s: %s", dataTimeout, missing)
		}
		time.Sleep(pollInterval)
	}

	loaded, err := w.prom.rules()
	require.NoError(t, err)
	health := make(map[string]loadedRule, len(loaded))
	for _, r := range loaded {
		health[r.Name] = r
	}
	for _, g := range w.rules {
		for _, r := range g.Rules {
			got, ok := health[r.Name()]
			if !ok {
				t.Errorf("rule %s of group %s is not loaded in Prometheus", r.Name(), g.Name)
				continue
			}
			if got.Health != "ok" {
				t.Errorf("rule %s: health %q: %s", r.Name(), got.Health, got.LastError)
			}
		}
	}
}

// missingData says what is not in yet, or "" once everything is.
func (w *world) missingData() string {
	targets, err := w.prom.targets()
	if err != nil {
		return "GET /api/v1/targets: " + err.Error()
	}
	up := false
	for _, s := range targets {
		up = up || s.ScrapePool == job && s.Health == "up"
	}
	if !up {
		return "the agent is not scraped yet"
	}
	rules, err := w.prom.rules()
	if err != nil {
		return "GET /api/v1/rules: " + err.Error()
	}
	for _, r := range rules {
		if r.Health == "unknown" {
			return "rule " + r.Name + " is not evaluated yet"
		}
	}
	for _, g := range w.rules {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			if series, err := w.prom.query(r.Record); err != nil || len(series) == 0 {
				return "no recorded series " + r.Record + " yet"
			}
		}
	}
	return ""
}

// expression is a PromQL expression and where it comes from.
type expression struct {
	source, expr string
}

// expressions returns every dashboard query, twice (every host and target
// selected; one host and one target selected, as the repeated per-host
// panels are), and every rule's expression and recorded series.
func (w *world) expressions(t *testing.T) []expression {
	t.Helper()
	queries, err := w.dashboard.Queries()
	require.NoError(t, err)
	selections := []struct {
		name   string
		values map[string]string
	}{
		{"all hosts and targets", w.dashboard.SelectAll(map[string]string{"job": job})},
		{"one host and target", map[string]string{
			"job": job, "instance": grafanaRegexEscape(w.agent.addr), "target": grafanaRegexEscape(chatTarget)}},
	}
	var exprs []expression
	for _, s := range selections {
		for _, q := range queries {
			expanded := deploy.ExpandVariables(q.Expr, s.values)
			require.NotContains(t, expanded, "$", "%s: a variable is left after expansion: %s", q.Source, expanded)
			exprs = append(exprs, expression{q.Source + ", " + s.name, expanded})
		}
	}
	for _, g := range w.rules {
		for _, r := range g.Rules {
			if r.Alert != "" {
				exprs = append(exprs, expression{"alert " + r.Alert, r.Expr})
				continue
			}
			exprs = append(exprs, expression{"record " + r.Record, r.Expr},
				expression{"recorded series " + r.Record, r.Record})
		}
	}
	return exprs
}

// grafanaRegexEscape escapes a variable's value as Grafana does for a
// variable with several values or "All", which the dashboard uses in =~
// matchers: a backslash before each regex metacharacter, itself escaped in
// the PromQL string.
func grafanaRegexEscape(value string) string {
	var b strings.Builder
	for _, r := range value {
		if strings.ContainsRune(`\^$.|?*+()[]{}`, r) {
			b.WriteString(`\\`)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkHealthy evaluates every expression on the healthy host: none may
// fail, the conditions of the alerts must be empty and everything else must
// have data. No alert may be active.
func (w *world) checkHealthy(t *testing.T) {
	t.Helper()
	seen := make(map[string]bool)
	for _, e := range w.expressions(t) {
		series, err := w.prom.query(e.expr)
		if err != nil {
			t.Errorf("%s: %v\n\t%s", e.source, err, e.expr)
			continue
		}
		reason, empty := emptyWhenHealthy[e.source]
		seen[e.source] = true
		switch {
		case empty && len(series) > 0:
			t.Errorf("%s: %d series on the healthy host, want none (%s): %v\n\t%s", e.source, len(series), reason, series, e.expr)
		case !empty && len(series) == 0:
			t.Errorf("%s: no data on the healthy host; if that is right, add it to emptyWhenHealthy with the reason\n\t%s", e.source, e.expr)
		}
	}
	for source := range emptyWhenHealthy {
		if !seen[source] {
			t.Errorf("emptyWhenHealthy lists %q, which is no expression of the rules or the dashboard", source)
		}
	}
	w.prom.waitAlerts(t, nil)
}

// checkNoErrors evaluates every expression and fails on errors only: after
// a fault, which series exist is what the alerts check.
func (w *world) checkNoErrors(t *testing.T) {
	t.Helper()
	for _, e := range w.expressions(t) {
		if _, err := w.prom.query(e.expr); err != nil {
			t.Errorf("%s: %v\n\t%s", e.source, err, e.expr)
		}
	}
}

// checkDashboardRange evaluates every dashboard query over the whole run,
// as Grafana's time series panels do: the agent's restart and stop must not
// make any of them fail (duplicate series on a join, say).
func (w *world) checkDashboardRange(t *testing.T) {
	t.Helper()
	queries, err := w.dashboard.Queries()
	require.NoError(t, err)
	values := w.dashboard.SelectAll(map[string]string{"job": job})
	for _, q := range queries {
		expr := deploy.ExpandVariables(q.Expr, values)
		n, err := w.prom.queryRange(expr, w.started, time.Now(), time.Second)
		switch {
		case err != nil:
			t.Errorf("%s over the run: %v\n\t%s", q.Source, err, expr)
		case n == 0:
			t.Errorf("%s over the run: no data\n\t%s", q.Source, expr)
		}
	}
}

// reloadUnfitTargets adds the targets of testdata/unfit-targets.yml to the
// example targets and reloads the agent through POST /-/reload.
func (w *world) reloadUnfitTargets(t *testing.T) {
	t.Helper()
	appendTargets(t, w.agent.targets, filepath.Join(deployDir, deploy.ExampleTargetsFile),
		filepath.Join("testdata", "unfit-targets.yml"))

	code, body := w.agent.reload(t)
	require.Equal(t, http.StatusOK, code, "POST /-/reload: %s", body)
	alerts := w.prom.waitAlerts(t, alertsAfterReload)
	w.checkAnnotations(t, alerts)
}

// loseGPU injects the fault into the fleet file and restarts the agent: the
// fake reads its fleet file once, at start, so a restart is how a fault
// reaches a running host's agent. Prometheus sees the same instance.
func (w *world) loseGPU(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(w.agent.fleet, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = io.WriteString(f, "faults:\n  lost:\n    - {gpu: "+lostGPU+"}\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	w.agent.stop(t)
	w.agent.start(t)

	alerts := w.prom.waitAlerts(t, alertsAfterGPULost)
	w.checkAnnotations(t, alerts)
	w.checkNoErrors(t)
	w.checkInventoryPanel(t)
}

// inventoryPanel is the dashboard's table of every GPU.
const inventoryPanel = "GPU inventory"

// checkInventoryPanel evaluates the queries of the inventory panel as Grafana
// does before it merges them into one table by their labels: every GPU the
// agent lists has a row, the lost one too, and that row says it is down.
func (w *world) checkInventoryPanel(t *testing.T) {
	t.Helper()
	var panel *deploy.Panel
	for _, p := range w.dashboard.AllPanels() {
		if p.Title == inventoryPanel {
			panel = &p
		}
	}
	require.NotNil(t, panel, "the dashboard has no panel %q", inventoryPanel)
	values := w.dashboard.SelectAll(map[string]string{"job": job})
	rows := make(map[string]bool)
	lostDown := false
	lost := w.queryOne(t, `vramfit_gpu_info{job="`+job+`",gpu="`+lostGPU+`"}`).Metric["uuid"]
	for _, q := range panel.Targets {
		expr := deploy.ExpandVariables(q.Expr, values)
		series, err := w.prom.query(expr)
		require.NoError(t, err, "panel %q query %s: %s", inventoryPanel, q.RefID, expr)
		for _, s := range series {
			rows[s.Metric["uuid"]] = true
			lostDown = lostDown || s.Metric["uuid"] == lost && strings.HasPrefix(expr, "vramfit_gpu_up{") && s.value() == "0"
		}
	}
	gpus, err := w.prom.query(`vramfit_gpu_info{job="` + job + `"}`)
	require.NoError(t, err)
	require.Len(t, gpus, 8, "GPUs in Prometheus")
	for _, g := range gpus {
		require.True(t, rows[g.Metric["uuid"]], "panel %q has no row for GPU %s (%s)", inventoryPanel, g.Metric["gpu"], g.Metric["uuid"])
	}
	require.True(t, lostDown, "panel %q does not show the lost GPU %s as down (vramfit_gpu_up 0)", inventoryPanel, lostGPU)
}

// failReload writes a targets file that cannot load and reloads: the agent
// answers 500 without quoting the file (a client may not read it), logs
// the file and line at fault, keeps its targets, and the reload alert joins
// the others.
func (w *world) failReload(t *testing.T) {
	t.Helper()
	copyFile(t, filepath.Join("testdata", "broken-targets.yml"), w.agent.targets)
	code, body := w.agent.reload(t)
	require.Equal(t, http.StatusInternalServerError, code, "POST /-/reload of a broken file: %s", body)
	require.NotContains(t, body, filepath.Base(w.agent.targets), "the answer quotes nothing of the file")
	logged, err := os.ReadFile(w.agent.log)
	require.NoError(t, err)
	require.Contains(t, string(logged), filepath.Base(w.agent.targets)+":", "the log names the file and line")
	// The status page has the banner, with the file and line.
	page := pageText(w.headless(t, w.agent.url("/"), "--dump-dom"))
	require.Contains(t, page, "The last reload of the targets file "+w.agent.targets+" failed", "the status page's banner")
	require.Contains(t, page, filepath.Base(w.agent.targets)+":5: targets[0].model: the model cannot be resolved", "the error names the file and line")
	w.prom.waitAlerts(t, alertsAfterFailedReload)
}

// checkAnnotations checks that every alert's annotations render, with the
// values their templates query from Prometheus.
func (w *world) checkAnnotations(t *testing.T, alerts []alert) {
	t.Helper()
	for _, a := range alerts {
		summary, description := a.Annotations["summary"], a.Annotations["description"]
		for _, text := range []string{summary, description} {
			require.NotEmpty(t, text, "%s: an annotation is empty: %v", a.key(), a.Annotations)
			for _, bad := range []string{"error expanding template", "<no value>"} {
				require.NotContains(t, text, bad, "%s: annotation", a.key())
			}
		}
		selector := `{job="` + job + `",instance="` + w.agent.addr + `",target="` + a.Labels["target"] + `"}`
		switch a.Labels["alertname"] {
		case "VramfitTargetNoLongerFits":
			// It does not fit now, so its headroom is the memory missing;
			// the processes of the fleet's busy GPUs hold it.
			require.Contains(t, description, "Its headroom is -", "%s: description", a.key())
			require.Contains(t, description, "The largest: python (pid 4242, GPU ", "%s: description", a.key())
		case "VramfitTargetExceedsHardware":
			gpus := w.queryOne(t, "vramfit_target_gpus_required"+selector)
			require.Contains(t, description, "it needs "+gpus.value()+" GPUs", "%s: description", a.key())
		case "VramfitGPUDown":
			info := w.queryOne(t, `vramfit_gpu_info{job="`+job+`",gpu="`+a.Labels["gpu"]+`"}`)
			require.Contains(t, description, "("+info.Metric["name"]+", "+info.Metric["uuid"]+")", "%s: description", a.key())
		}
	}
}

// queryOne evaluates expr, which must return one series.
func (w *world) queryOne(t *testing.T, expr string) sample {
	t.Helper()
	series, err := w.prom.query(expr)
	require.NoError(t, err, expr)
	require.Len(t, series, 1, expr)
	return series[0]
}

// markedDown is how the status page marks a device that is down, followed by
// the reason.
var markedDown = regexp.MustCompile(`\bdown ?: `)

// checkStatusPage renders the agent's status page in Chromium, saves a
// screenshot, and checks that the DOM shows every GPU by its UUID and model,
// the lost one as down, and every target of the targets file.
func (w *world) checkStatusPage(t *testing.T) {
	t.Helper()
	url := w.agent.url("/")
	dom := w.headless(t, url, "--dump-dom")
	require.NoError(t, os.WriteFile(filepath.Join(w.out, "status.html"), dom, 0o644))
	text := pageText(dom)

	gpus, err := w.prom.query(`vramfit_gpu_info{job="` + job + `"}`)
	require.NoError(t, err)
	require.Len(t, gpus, 8, "GPUs in Prometheus")
	for _, g := range gpus {
		require.Contains(t, text, g.Metric["uuid"], "GPU %s's UUID on the status page", g.Metric["gpu"])
		require.Contains(t, text, g.Metric["name"], "GPU %s's model on the status page", g.Metric["gpu"])
	}
	// The lost GPU's row says it is down, and no other does.
	require.Len(t, markedDown.FindAllString(text, -1), 1, "devices marked down on the status page")
	lost := w.queryOne(t, `vramfit_gpu_info{job="`+job+`",gpu="`+lostGPU+`"}`)
	row := text[strings.Index(text, lost.Metric["uuid"]):]
	require.Regexp(t, markedDown, row[:min(len(row), 200)], "GPU %s's row on the status page", lostGPU)

	targets := readTargets(t, w.agent.targets)
	require.Len(t, targets, 9)
	for _, target := range targets {
		require.Contains(t, text, target.name(), "target on the status page")
	}

	path := w.screenshot(t, url, "status.png")
	t.Logf("status page: %s (DOM in status.html)", path)
}

// agent is the vramfit process under test, started again on the same
// address after a fault so that Prometheus sees the same instance.
type agent struct {
	binary, addr, fleet, targets, log string
	kubelet                           string // the pod-resources socket
	proc                              *process
}

func (a *agent) start(t *testing.T) {
	t.Helper()
	a.proc = startProcess(t, "vramfit", a.log, a.binary, "serve",
		"--web.listen-address="+a.addr,
		"--web.enable-lifecycle",
		"--nvml.fake="+a.fleet,
		"--config.file="+a.targets,
		// Under Prometheus's scrape_timeout of 1 s, as serve.md asks.
		"--scrape.timeout=500ms",
		"--collector.processes",
		"--collector.pods",
		"--kubelet.pod-resources-socket="+a.kubelet)
	a.proc.waitReady(t, a.url("/-/ready"))
}

func (a *agent) stop(t *testing.T) { a.proc.stop(t) }

func (a *agent) url(path string) string { return "http://" + a.addr + path }

// reload posts to /-/reload and returns the status code and body.
func (a *agent) reload(t *testing.T) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(a.url("/-/reload"), "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// targetNode is a target of a targets file, kept as YAML so that it is
// written back as it was.
type targetNode struct{ *yaml.Node }

func (n targetNode) name() string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// readTargets returns the targets of a targets file.
func readTargets(t *testing.T, path string) []targetNode {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var file struct {
		Targets []yaml.Node `yaml:"targets"`
	}
	require.NoError(t, yaml.Unmarshal(data, &file), path)
	require.NotEmpty(t, file.Targets, "%s has no targets", path)
	targets := make([]targetNode, len(file.Targets))
	for i := range file.Targets {
		targets[i] = targetNode{&file.Targets[i]}
	}
	return targets
}

// appendTargets writes to path the targets file base with the targets of
// extra added, keeping everything else of base (comments, defaults).
func appendTargets(t *testing.T, path, base, extra string) {
	t.Helper()
	data, err := os.ReadFile(base)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc), base)
	require.Len(t, doc.Content, 1, "%s: one YAML document", base)
	var list *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "targets" {
			list = root.Content[i+1]
		}
	}
	require.NotNil(t, list, "%s has no targets list", base)
	for _, target := range readTargets(t, extra) {
		list.Content = append(list.Content, target.Node)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	require.NoError(t, enc.Encode(&doc))
	require.NoError(t, enc.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o644))
}

// truncate empties a log left by an earlier run; the processes append to it.
func truncate(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, nil, 0o644))
}
