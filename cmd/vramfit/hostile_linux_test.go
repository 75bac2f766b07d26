//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/collector/scrapegrid"
	"github.com/vramfit/vramfit/estimator/targetsfile"
)

// agent is vramfit serve running as its own process, the binary built as
// a release builds it (without the race detector, whose shadow memory
// would hide the agent's own).
type agent struct {
	cmd    *exec.Cmd
	base   string
	lines  chan string   // its log, line by line, as it comes
	exited chan struct{} // closed once it has exited
	err    error         // how it exited, once exited is closed
	mu     sync.Mutex
	log    strings.Builder
}

// buildAgent builds vramfit into a temporary directory.
func buildAgent(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vramfit")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// startAgent runs bin serve on a fake DGX H100 with targetsFile, listening
// on loopback, and kills it at the end of the test if it still runs.
func startAgent(t testing.TB, bin, targetsFile string, flags ...string) *agent {
	t.Helper()
	addr := freeAddress(t)
	args := append([]string{"serve", "--nvml.fake=dgx-h100", "--config.file=" + targetsFile,
		"--web.listen-address=" + addr, "--log.level=info"}, flags...)
	a := &agent{cmd: exec.Command(bin, args...), base: "http://" + addr,
		lines: make(chan string, 1024), exited: make(chan struct{})}
	stderr, err := a.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, a.cmd.Start())
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			a.mu.Lock()
			a.log.WriteString(scanner.Text() + "\n")
			a.mu.Unlock()
			select {
			case a.lines <- scanner.Text():
			default: // nobody is waiting for that many lines
			}
		}
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.exited
	})
	return a
}

func (a *agent) logged() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// waitLine waits until the agent logs a line that holds s.
func (a *agent) waitLine(t testing.TB, s string) {
	t.Helper()
	for {
		select {
		case line := <-a.lines:
			if strings.Contains(line, s) {
				return
			}
		case <-a.exited:
			require.FailNow(t, "the agent exited before logging "+s, "%v\n%s", a.err, a.logged())
		}
	}
}

// waitServing waits until the agent is ready, failing at once if it exits.
func (a *agent) waitServing(t testing.TB) {
	t.Helper()
	for {
		select {
		case <-a.exited:
			require.FailNow(t, "the agent exited before it was ready", "%v\n%s", a.err, a.logged())
		case <-time.After(20 * time.Millisecond):
		}
		if code, _ := fetch(t, a.base+"/-/ready"); code == http.StatusOK {
			return
		}
	}
}

// stop sends SIGTERM and requires exit status 0.
func (a *agent) stop(t testing.TB) {
	t.Helper()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
		require.NoError(t, a.err, "the agent's exit after SIGTERM:\n%s", a.logged())
	case <-time.After(time.Minute):
		require.FailNow(t, "SIGTERM did not stop the agent", a.logged())
	}
}

func targetsFile(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.yml")
	require.NoError(t, os.WriteFile(path, scrapegrid.TargetsFile(n), 0o600))
	return path
}

// systemd's ExecReload sends SIGHUP, and may do so while the agent still
// loads its targets: that SIGHUP used to end the agent with status 129 and
// no log line. It is caught from the start and reloads once serving.
func TestSIGHUPDuringStartup(t *testing.T) {
	a := startAgent(t, buildAgent(t), targetsFile(t, 5000))
	a.waitLine(t, "starting vramfit")
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGHUP))
	a.waitServing(t)
	code, body := fetch(t, a.base+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "\nvramfit_config_last_reload_successful 1\n")
	a.stop(t)
}

// deployMemoryLimit is the smaller of the memory limits the deploy kit
// sets: the DaemonSet's and the systemd unit's MemoryMax, in bytes.
func deployMemoryLimit(t testing.TB) (limit int64, where string) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/kubernetes/daemonset.yaml")
	require.NoError(t, err)
	var ds struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Resources struct {
							Limits struct{ Memory string } `yaml:"limits"`
						} `yaml:"resources"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(data, &ds))
	require.NotEmpty(t, ds.Spec.Template.Spec.Containers)
	mi, ok := strings.CutSuffix(ds.Spec.Template.Spec.Containers[0].Resources.Limits.Memory, "Mi")
	require.True(t, ok, "the DaemonSet's memory limit is in Mi")
	n, err := strconv.ParseInt(mi, 10, 64)
	require.NoError(t, err)
	limit, where = n<<20, "the DaemonSet's limit "+mi+"Mi"

	unit, err := os.ReadFile("../../deploy/systemd/vramfit.service")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^MemoryMax=(\d+)M$`).FindSubmatch(unit)
	require.NotNil(t, m, "the unit sets MemoryMax in M")
	n, err = strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	if n<<20 < limit {
		limit, where = n<<20, "the unit's MemoryMax="+string(m[1])+"M"
	}
	return limit, where
}

// peakRSS is the most memory the process has held resident, in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	kb, ok := strings.CutSuffix(procFields(string(status))["VmHWM"], " kB")
	require.True(t, ok)
	n, err := strconv.ParseInt(kb, 10, 64)
	require.NoError(t, err)
	return n << 10
}

// 50 concurrent GETs of /api/v1/targets at 1,000 targets (each answer
// about 1.8 MB) used to render one answer each, at once, and peaked near
// 257 MiB: above every limit the deploy kit sets. They now share one
// rendering under one bound, and the peak stays under the limits.
func TestTargetsFloodPeakRSS(t *testing.T) {
	limit, where := deployMemoryLimit(t)
	a := startAgent(t, buildAgent(t), targetsFile(t, 1000))
	a.waitServing(t)

	codes := flood(t, a.base+"/api/v1/targets", 50)
	served := 0
	for _, code := range codes {
		assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code)
		if code == http.StatusOK {
			served++
		}
	}
	assert.Positive(t, served)
	peak := peakRSS(t, a.cmd.Process.Pid)
	t.Logf("%d of %d served; peak RSS %.1f MiB; %s", served, len(codes), float64(peak)/(1<<20), where)
	assert.Less(t, peak, limit, "peak RSS above %s", where)
	a.stop(t)
}

// flood sends n GETs of url at once, on loopback, and returns their
// statuses once every answer has been read (0 for a request that failed).
func flood(t testing.TB, url string, n int) []int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	codes := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			<-start
			resp, err := client.Get(url)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			assert.NoError(t, err)
			codes[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// BenchmarkMaxTargetsPeakRSS is the agent at 10,000 targets, the most a
// targets file may hold, under the Go memory limit it would set itself
// under the deploy kit's smallest limit: start, three scrapes, 60
// concurrent scrapes, 50 concurrent GETs of /api/v1/targets, then a reload
// and a scrape. It reports the peak RSS, which must stay under that limit
// (docs/reliability.md). Run it with -benchtime 1x: each round is a start.
func BenchmarkMaxTargetsPeakRSS(b *testing.B) {
	limit, where := deployMemoryLimit(b)
	b.Setenv("GOMEMLIMIT", strconv.FormatInt(int64(float64(limit)*memoryLimitShare), 10))
	bin, file := buildAgent(b), targetsFile(b, targetsfile.MaxTargets)
	var peak int64
	for b.Loop() {
		a := startAgent(b, bin, file, "--web.enable-lifecycle")
		a.waitServing(b)
		for range 3 {
			code, _ := fetch(b, a.base+"/metrics")
			require.Equal(b, http.StatusOK, code)
		}
		flood(b, a.base+"/metrics", 60)
		flood(b, a.base+"/api/v1/targets", 50)
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(b, err)
		_, err = fmt.Fprintf(f, "# round %d\n", b.N)
		require.NoError(b, err)
		require.NoError(b, f.Close())
		resp, err := http.Post(a.base+"/-/reload", "", nil)
		require.NoError(b, err)
		require.NoError(b, resp.Body.Close())
		require.Equal(b, http.StatusOK, resp.StatusCode)
		code, _ := fetch(b, a.base+"/metrics")
		require.Equal(b, http.StatusOK, code)
		peak = max(peak, peakRSS(b, a.cmd.Process.Pid))
		a.stop(b)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(limit)/(1<<20), "limit-MiB")
	assert.Less(b, peak, limit, "peak RSS above %s", where)
}
