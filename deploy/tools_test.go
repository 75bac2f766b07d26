package deploy

import (
	"os"
	"os/exec"
	"testing"
)

// lookTool finds a program a check needs: the one named by $env if set, else
// name on PATH. Without it the check cannot run: outside CI it says so loudly
// and is skipped, so that `go test` works with Go alone; in CI (CI set) it
// fails, since CI installs every tool (.ci/run).
func lookTool(t *testing.T, env, name, install string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		name = v
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%v: CI must run this check; %s", err, install)
	}
	t.Skipf("*** NOT RUN: %v; %s", err, install)
	return ""
}
