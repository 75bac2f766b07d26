package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Flags out of range end the program with status 2 and one line that names
// the flag and says what is valid, before any file, library or socket is
// opened (TestServeStartErrors covers the values found only then).
func TestBadFlags(t *testing.T) {
	const listen = `; want host:port such as :9847, 127.0.0.1:9847 or [::1]:9847` + "\n"
	const size = `want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`
	tests := []struct {
		args   []string
		stderr string // the whole of stderr
	}{
		{[]string{"serve", "--web.listen-address=notaport"}, `vramfit serve: --web.listen-address "notaport": missing port in address` + listen},
		{[]string{"serve", "--web.listen-address="}, `vramfit serve: --web.listen-address "": missing port in address` + listen},
		{[]string{"serve", "--web.listen-address=[::1"}, `vramfit serve: --web.listen-address "[::1": missing ']' in address` + listen},
		{[]string{"serve", "--web.listen-address=127.0.0.1:99999"}, `vramfit serve: --web.listen-address "127.0.0.1:99999": port "99999" is not a number from 0 to 65535` + listen},
		{[]string{"serve", "--web.listen-address=127.0.0.1:-1"}, `vramfit serve: --web.listen-address "127.0.0.1:-1": port "-1" is not a number from 0 to 65535` + listen},
		{[]string{"serve", "--web.listen-address=:9847", "--web.listen-address=:http"}, `vramfit serve: --web.listen-address ":http": port "http" is not a number from 0 to 65535` + listen},
		{[]string{"serve", "--scrape.timeout=-1s"}, "vramfit serve: --scrape.timeout -1s: want a duration above 0, such as 8s\n"},
		{[]string{"serve", "--collector.processes", "--collector.processes.top=0"}, "vramfit serve: --collector.processes.top 0: want 1 or more\n"},
		{[]string{"serve", "--collector.pods", "--kubelet.pod-resources-socket="}, "vramfit serve: --kubelet.pod-resources-socket is empty: --collector.pods needs the kubelet's socket, such as /var/lib/kubelet/pod-resources/kubelet.sock\n"},
		{[]string{"estimate", "--model=gpt2", "--gpu=-80GiB"}, `vramfit estimate: --gpu: gpu "-80GiB" is neither a catalog name`},
		{[]string{"estimate", "--model=gpt2", "--gpu=9999PiB"}, `vramfit estimate: --gpu: gpu "9999PiB" is neither a catalog name`},
		{[]string{"estimate", "--model=gpt2", "--gpu=0GB"}, "vramfit estimate: --gpu: gpu size \"0GB\" is 0 bytes; want at least 1GiB\n"},
		{[]string{"estimate", "--model=gpt2", "--overhead=1e30"}, `vramfit estimate: --overhead: size "1e30": ` + size + "\n"},
		{[]string{"estimate", "--model=gpt2", "--overhead=2EiB"}, `vramfit estimate: --overhead: size "2EiB": unknown unit "EiB"; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)` + "\n"},
		{[]string{"estimate", "--model=gpt2", "--batch=99999999999999999999"}, "vramfit estimate: --batch: must be a whole number from 1 to 1048576, got \"99999999999999999999\"\n"},
		{[]string{"estimate", "--model=gpt2", "--memory-utilization=NaN"}, "vramfit estimate: --memory-utilization: must be a number more than 0 and at most 1, got \"NaN\"\n"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		status := run(append(tc.args, "--log.level=error"), &stdout, &stderr)
		assert.Equal(t, 2, status, "%v", tc.args)
		assert.Empty(t, stdout.String(), "%v", tc.args)
		if strings.HasSuffix(tc.stderr, "\n") {
			assert.Equal(t, tc.stderr, stderr.String(), "%v", tc.args)
		} else {
			assert.True(t, strings.HasPrefix(stderr.String(), tc.stderr), "%v: %q", tc.args, stderr.String())
		}
	}
}
