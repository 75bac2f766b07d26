package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd, Args string
}

// stage is a FROM and the instructions after it.
type stage struct {
	From         string
	Instructions []instruction
}

func (s stage) args(cmd string) []string {
	var out []string
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

func parseDockerfile(t *testing.T, path string) (globalArgs []string, stages []stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var logical []string
	current := ""
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && current == "") {
			continue
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			current += body + " "
			continue
		}
		logical = append(logical, current+line)
		current = ""
	}
	require.Empty(t, current, "%s ends in a continuation", path)
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		switch {
		case in.Cmd == "FROM":
			stages = append(stages, stage{From: in.Args})
		case len(stages) == 0:
			require.Equal(t, "ARG", in.Cmd, "only ARG may come before the first FROM")
			globalArgs = append(globalArgs, in.Args)
		default:
			stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, in)
		}
	}
	return globalArgs, stages
}

func TestDockerfile(t *testing.T) {
	globalArgs, stages := parseDockerfile(t, "../Dockerfile")
	require.Len(t, stages, 2, "a build stage and a runtime stage")
	build, runtime := stages[0], stages[1]

	// The build stage runs on the builder's platform and cross-compiles for the target's
	// with the rule make release uses, which sets CGO_ENABLED=1.
	assert.Regexp(t, `^--platform=\$BUILDPLATFORM golang:\S+ AS build$`, build.From)
	assert.Contains(t, build.args("ARG"), "TARGETARCH")
	run := strings.Join(build.args("RUN"), "\n")
	assert.Contains(t, run, "make build-linux-$arch")
	deployMk, err := os.ReadFile("deploy.mk")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^\$\(addprefix build-linux-,\$\(RELEASE_ARCHES\)\): build-linux-%:\n\tCGO_ENABLED=1 GOOS=linux GOARCH=\$\* `), string(deployMk))
	// Each release architecture's cross compiler (CROSS_CC_arch) is installed from the
	// Debian package that provides it: aarch64-linux-gnu-gcc from gcc-aarch64-linux-gnu.
	arches := regexp.MustCompile(`(?m)^RELEASE_ARCHES := (.+)$`).FindStringSubmatch(string(deployMk))
	require.NotNil(t, arches, "RELEASE_ARCHES in deploy.mk")
	for _, arch := range strings.Fields(arches[1]) {
		cc := regexp.MustCompile(`(?m)^CROSS_CC_` + arch + ` := (\S+)-gcc$`).FindStringSubmatch(string(deployMk))
		require.NotNil(t, cc, "CROSS_CC_%s in deploy.mk", arch)
		triplet := strings.ReplaceAll(cc[1], "_", "-")
		assert.Contains(t, run, "gcc-"+triplet+" libc6-dev-"+arch+"-cross", "the Dockerfile installs the %s cross compiler", arch)
	}

	// The runtime has glibc (the binary links NVML through cgo) from the same Debian
	// release the binary was built on.
	assert.Regexp(t, `^debian:\$\{DEBIAN_RELEASE\}-slim$`, runtime.From)
	assert.Contains(t, build.From, "${DEBIAN_RELEASE}")
	assert.Contains(t, globalArgs, "DEBIAN_RELEASE=trixie")

	assert.Equal(t, []string{"/src/vramfit /usr/local/bin/vramfit"}, filterPrefix(runtime.args("COPY"), "--from=build "))
	users := runtime.args("USER")
	require.Len(t, users, 1)
	uid, _, _ := strings.Cut(users[0], ":")
	assert.NotContains(t, []string{"0", "root"}, uid, "run as a non-root user")
	assert.Equal(t, []string{"9847"}, runtime.args("EXPOSE"))
	env := strings.Join(runtime.args("ENV"), " ")
	assert.Contains(t, strings.Fields(env), "NVIDIA_VISIBLE_DEVICES=all")
	assert.Contains(t, strings.Fields(env), "NVIDIA_DRIVER_CAPABILITIES=utility")
	assert.Equal(t, []string{`["/usr/local/bin/vramfit"]`}, runtime.args("ENTRYPOINT"))
}

// filterPrefix returns the values that start with prefix, without it.
func filterPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}
