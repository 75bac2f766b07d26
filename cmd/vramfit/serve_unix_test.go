//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The whole program, as a service manager runs it: serve is the default
// command, SIGHUP reloads the targets file (a bad one keeps the targets
// before and sets the reload gauge to 0), SIGTERM ends it with status 0.
func TestServeSignals(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "targets.yml")
	write := func(content string) { require.NoError(t, os.WriteFile(path, []byte(content), 0o600)) }
	write("targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n")

	addr := freeAddress(t)
	base := "http://" + addr
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--nvml.fake=dgx-h100", "--config.file=" + path, "--web.listen-address=" + addr,
			"--log.level=warn"}, &stdout, &stderr)
	}()
	waitReady(t, base)
	targets := func() []string {
		code, body := fetch(t, base+"/api/v1/targets")
		require.Equal(t, http.StatusOK, code)
		var resp struct {
			Targets []struct {
				Target string `json:"target"`
			} `json:"targets"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp))
		var names []string
		for _, tg := range resp.Targets {
			names = append(names, tg.Target)
		}
		return names
	}
	require.Equal(t, []string{"chat"}, targets())

	write("targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n  - {name: tiny, model: {preset: gpt2}}\n")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return len(targets()) == 2 }, 10*time.Second, 10*time.Millisecond,
		"SIGHUP did not reload the targets")

	write("targets:\n  - {name: chat, model: {preset: llama-3-8b}, batch: 0}\n")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		_, body := fetch(t, base+"/metrics")
		return bytes.Contains([]byte(body), []byte("\nvramfit_config_last_reload_successful 0\n"))
	}, 10*time.Second, 10*time.Millisecond, "the failed reload was not reported")
	assert.Equal(t, []string{"chat", "tiny"}, targets(), "a failed reload keeps the targets before")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case status := <-done:
		assert.Equal(t, 0, status)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "SIGTERM did not stop the server")
	}
	assert.Contains(t, stderr.String(), "reloading the targets file failed")
	assert.Contains(t, stderr.String(), path+":2: targets[0].batch:")
}

// A FIFO in place of the targets file used to park every reader: check-config
// never returned, POST /-/reload never answered and kept the reload lock
// (every later reload waited too, each parking a goroutine and a
// connection), and a SIGHUP reload blocked the signal loop so that SIGTERM
// was ignored. Now each is refused at once, the next good file reloads,
// SIGTERM stops the agent, and no goroutine is left.
func TestServeFIFOTargets(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.yml")
	require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n"), 0o600))
	addr := freeAddress(t)
	base := "http://" + addr
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--nvml.fake=dgx-h100", "--config.file=" + path, "--web.listen-address=" + addr,
			"--web.enable-lifecycle", "--log.level=warn"}, &stdout, &stderr)
	}()
	waitReady(t, base)

	require.NoError(t, os.Remove(path))
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	var out bytes.Buffer
	assert.Equal(t, 1, run([]string{"check-config", path}, &out, &out))
	assert.Contains(t, out.String(), path+": cannot read the targets file: it is a named pipe (FIFO), not a regular file")

	reload := func() (int, string) {
		resp, err := testClient.Post(base+"/-/reload", "", nil)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	for range 20 {
		code, body := reload()
		require.Equal(t, http.StatusInternalServerError, code, body)
	}
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))

	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n  - {name: tiny, model: {preset: gpt2}}\n"), 0o600))
	// The SIGHUP's reload, which runs apart, may have read this file first.
	code, body := reload()
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, []string{"Loaded 2 targets.\n", "The targets file is unchanged.\n"}, body)
	code, body = fetch(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "\nvramfit_config_last_reload_successful 1\n")
	assert.Contains(t, body, `vramfit_target_info{method="detailed",model="gpt2",precision="bf16",target="tiny"`)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case status := <-done:
		assert.Equal(t, 0, status)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "SIGTERM did not stop the server")
	}
	assert.Contains(t, stderr.String(), "is a named pipe (FIFO), not a regular file")
}

// A FIFO or a directory as the web configuration or the fake fleet is
// refused at start; the toolkit and the fleet reader would have waited for
// a writer for ever, SIGTERM or not.
func TestServeFilesNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, path := range []string{fifo, dir} {
		status, stderr := runServe(t, "--web.config.file="+path, "--log.level=error")
		assert.Equal(t, 1, status)
		assert.Equal(t, "vramfit serve: --web.config.file "+path+": not a regular file; want the YAML web configuration\n", stderr)
		status, stderr = runServe(t, "--nvml.fake="+path, "--log.level=error")
		assert.Equal(t, 1, status)
		assert.Equal(t, "vramfit serve: --nvml.fake "+path+": not a regular file; want a built-in fleet or a fleet file\n", stderr)
	}
}
