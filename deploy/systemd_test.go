package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	unitFile    = "systemd/vramfit.service"
	socketFile  = "systemd/vramfit.socket"
	envFile     = "systemd/vramfit.env"
	installPath = "/usr/local/bin/vramfit"
)

// unit is a systemd unit file: section → key → the values in order (keys such
// as DeviceAllow= may repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: want Key=Value", path, n)
			require.NotEmpty(t, section, "%s:%d: a setting outside any section", path, n)
			u[section][key] = append(u[section][key], value)
		}
	}
	require.NoError(t, sc.Err())
	return u
}

func TestSystemdUnitIsHardened(t *testing.T) {
	u := parseUnit(t, unitFile)
	svc := u["Service"]
	require.NotNil(t, svc, "[Service] section")
	tests := []struct{ key, want string }{
		{"ExecStart", installPath + " serve $OPTIONS"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"EnvironmentFile", "-/etc/default/vramfit"},
		{"DynamicUser", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"DevicePolicy", "closed"},
		// AF_VSOCK: --web.listen-address takes vsock:// addresses.
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_VSOCK"},
		{"MemoryMax", "256M"},
	}
	for _, tt := range tests {
		assert.Equal(t, []string{tt.want}, svc[tt.key], tt.key)
	}
	// The device nodes NVML opens: /dev/nvidiactl and /dev/nvidia[0-9]* (major 195,
	// registered as "nvidia" or "nvidia-frontend"), and /dev/nvidia-uvm.
	for _, want := range []string{"/dev/nvidiactl rw", "/dev/nvidia-uvm rw", "char-nvidia rw", "char-nvidia-frontend rw"} {
		assert.Contains(t, svc["DeviceAllow"], want)
	}
	assert.Empty(t, svc["PrivateDevices"], "PrivateDevices= hides the GPUs")
	assert.Equal(t, []string{"multi-user.target"}, u["Install"]["WantedBy"])
}

func TestSystemdEnvironmentFile(t *testing.T) {
	data, err := os.ReadFile(envFile)
	require.NoError(t, err)
	var options []string
	for line := range strings.Lines(string(data)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), "OPTIONS="); ok {
			options = append(options, value)
		}
	}
	require.Len(t, options, 1, "one OPTIONS= line")
	assert.Contains(t, options[0], "--config.file=/etc/vramfit/targets.yml")
	assert.True(t, strings.HasPrefix(options[0], `"`) && strings.HasSuffix(options[0], `"`), "quote OPTIONS: it holds several words")
}

// TestSystemdSocket checks the socket unit: it listens on the agent's port,
// and the service it starts is vramfit.service (by the shared name).
func TestSystemdSocket(t *testing.T) {
	u := parseUnit(t, socketFile)
	assert.Equal(t, []string{"9847"}, u["Socket"]["ListenStream"])
	assert.Empty(t, u["Socket"]["Service"], "the socket starts the service of its own name")
	assert.Equal(t, strings.TrimSuffix(filepath.Base(unitFile), ".service"), strings.TrimSuffix(filepath.Base(socketFile), ".socket"))
	assert.Equal(t, []string{"sockets.target"}, u["Install"]["WantedBy"])
	data, err := os.ReadFile(envFile)
	require.NoError(t, err)
	assert.Contains(t, string(data), "--web.systemd-socket", "the environment file names the flag that takes the socket")
}

// TestSystemdAnalyze verifies the units with systemd-analyze: no warning from
// `verify` on the service and the socket, and an exposure level of at most
// 2.0 ("OK") from `security`. verify checks that ExecStart's binary exists, so
// the units are verified in a copy whose ExecStart names a stand-in
// executable.
func TestSystemdAnalyze(t *testing.T) {
	analyze := lookTool(t, "SYSTEMD_ANALYZE", "systemd-analyze", "it comes with systemd: apt-get install systemd")
	data, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	dir := t.TempDir()
	binary := filepath.Join(dir, "vramfit")
	require.NoError(t, os.WriteFile(binary, []byte("#!/bin/sh\n"), 0o755))
	require.Contains(t, string(data), "ExecStart="+installPath+" ")
	service := filepath.Join(dir, filepath.Base(unitFile))
	require.NoError(t, os.WriteFile(service, []byte(strings.ReplaceAll(string(data), "ExecStart="+installPath, "ExecStart="+binary)), 0o644))
	socket := filepath.Join(dir, filepath.Base(socketFile))
	data, err = os.ReadFile(socketFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(socket, data, 0o644))

	for _, u := range []string{service, socket} {
		out, err := exec.Command(analyze, "verify", u).CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify %s: %s", filepath.Base(u), out)
		assert.Empty(t, string(out), "systemd-analyze verify %s warns", filepath.Base(u))
	}

	// --threshold counts in tenths of the level it prints: 20 is 2.0.
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", service).CombinedOutput()
	assert.NoError(t, err, "systemd-analyze security: exposure above 2.0:\n%s", out)
}
