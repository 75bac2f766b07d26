//go:build linux

package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unprivilegedArgs carries the arguments of serve to the child process of
// TestServeUnprivileged.
const unprivilegedArgs = "VRAMFIT_TEST_UNPRIVILEGED_SERVE"

// The exporter needs no privilege: the whole program, on loopback, serves
// the targets on a fake fleet as user and group nobody (65534) with no
// capability. Where the tests run as root this test drops to nobody;
// elsewhere it already runs unprivileged. The systemd unit and the
// DaemonSet, which run it so, are checked in deploy/.
func TestServeUnprivileged(t *testing.T) {
	dir, err := os.MkdirTemp("", "vramfit-unprivileged-")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(dir)) })
	require.NoError(t, os.Chmod(dir, 0o755)) // nobody must reach the binary and the targets
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(dir, "vramfit.test")
	copyFile(t, self, bin, 0o755)
	targets := filepath.Join(dir, "targets.yml")
	copyFile(t, exampleTargets, targets, 0o644)

	addr := freeAddress(t)
	args := []string{"serve", "--nvml.fake=dgx-h100", "--config.file=" + targets, "--web.listen-address=" + addr, "--log.level=warn"}
	child := exec.Command(bin, "-test.run=^TestHelperUnprivilegedServe$")
	child.Dir = dir
	child.Env = append(os.Environ(), unprivilegedArgs+"="+strings.Join(args, "\n"))
	if os.Geteuid() == 0 {
		child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	require.NoError(t, child.Start())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	base := "http://" + addr
	waitReady(t, base)
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child.Process.Pid), "status"))
	require.NoError(t, err)
	fields := procFields(string(status))
	t.Logf("serving as Uid %s, Gid %s, CapEff %s", fields["Uid"], fields["Gid"], fields["CapEff"])
	assert.NotRegexp(t, `(^|\s)0(\s|$)`, fields["Uid"], "no user id of the process is root")
	assert.NotRegexp(t, `(^|\s)0(\s|$)`, fields["Gid"], "no group id of the process is root")
	assert.Equal(t, "0000000000000000", fields["CapEff"], "no capability")
	code, body := fetch(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "\nvramfit_target_fits{")
	code, _ = fetch(t, base+"/api/v1/inventory")
	assert.Equal(t, http.StatusOK, code)

	require.NoError(t, child.Process.Signal(syscall.SIGTERM))
	stopped = true
	require.NoError(t, child.Wait(), "serve as nobody:\n%s", out.String())
}

// TestHelperUnprivilegedServe is the child of TestServeUnprivileged: it
// runs `vramfit serve` until SIGTERM, and does nothing in a normal run.
func TestHelperUnprivilegedServe(t *testing.T) {
	args := os.Getenv(unprivilegedArgs)
	if args == "" {
		return
	}
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(strings.Split(args, "\n"), &stdout, &stderr), stderr.String())
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	require.NoError(t, os.Chmod(to, mode))
}

// procFields reads the "Name:\tvalue" lines of /proc/PID/status.
func procFields(status string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(status) {
		if name, value, ok := strings.Cut(line, ":"); ok {
			fields[name] = strings.TrimSpace(value)
		}
	}
	return fields
}
