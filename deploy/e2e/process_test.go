//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// stopTimeout bounds how long a program may take to exit after SIGTERM
	// before it is killed. vramfit and Prometheus both need less than a
	// second here; vramfit's own limit for requests in flight is 5 s.
	stopTimeout = 10 * time.Second
	// startTimeout bounds how long a program may take to answer its
	// readiness endpoint.
	startTimeout = 30 * time.Second
	// pollInterval is how often a condition is polled.
	pollInterval = 200 * time.Millisecond
)

// process is a program the test started. Its output goes to a log file under
// the test's output directory, and it is stopped when the test ends,
// whatever happens.
type process struct {
	name   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, set once exited is closed
}

// startProcess runs argv in a process group of its own, appending its output
// to logPath. The group is killed if the test binary dies first
// (Pdeathsig), since `go test -timeout` exits without running cleanups.
func startProcess(t *testing.T, name, logPath string, argv ...string) *process {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer log.Close() // the child holds its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "starting %s", name)
	p := &process{name: name, log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM to the process group, kills it after stopTimeout, and
// reports an exit status other than 0: both programs exit 0 on SIGTERM.
func (p *process) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM, want status 0; its log is %s", p.name, p.err, p.log)
		}
	case <-time.After(stopTimeout):
		t.Errorf("%s still runs %s after SIGTERM: killing it; its log is %s", p.name, stopTimeout, p.log)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// waitReady polls url until it answers 200, failing if the process exits
// first or startTimeout passes.
func (p *process) waitReady(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before %s answered; its log is %s", p.name, p.err, url, p.log)
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 on %s within %s (last: %s); its log is %s", p.name, url, startTimeout, last, p.log)
		}
	}
}

// freeAddress returns a loopback address with a port nobody listens on now.
// Another program could take the port before ours binds it; on a test
// machine that race is rare enough, and the start then fails loudly.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

// runBounded runs a short-lived program with a deadline, killing its whole
// process group when the deadline passes or when it returns (Chromium
// leaves helper processes behind). It returns the program's stdout; stderr
// is appended to logPath.
func runBounded(t *testing.T, timeout time.Duration, logPath string, env []string, argv ...string) ([]byte, error) {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // a helper holding stdout open must not hang us
	out, err := cmd.Output()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s did not finish within %s: %w", argv[0], timeout, ctx.Err())
	}
	return out, err
}
