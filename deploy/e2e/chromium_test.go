//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromiumTimeout bounds one run of headless Chromium; it needs one or two
// seconds on two cores.
const chromiumTimeout = 60 * time.Second

// The screenshot's size: wide enough for the tables of the status page,
// tall enough for eight GPUs and eight targets.
const screenshotWidth, screenshotHeight = 1280, 2400

// headless runs Chromium on url with a fresh profile and HOME, so that
// nothing of the user's is read or written, and returns its stdout.
func (w *world) headless(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	argv := append([]string{w.chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir=" + filepath.Join(home, "profile")}, args...)
	argv = append(argv, url)
	env := append(os.Environ(), "HOME="+home)
	out, err := runBounded(t, chromiumTimeout, filepath.Join(w.out, "chromium.log"), env, argv...)
	require.NoError(t, err, "%q; its output is in %s", argv, filepath.Join(w.out, "chromium.log"))
	return out
}

// screenshot saves the page at url as PNG under the output directory and
// checks that it is an image of the window's size.
func (w *world) screenshot(t *testing.T, url, name string) string {
	t.Helper()
	path := filepath.Join(w.out, name)
	// A screenshot left by an earlier run must not pass for this one.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, err)
	}
	// Without scrollbars: a page taller than the window would otherwise
	// draw one along the right edge, where the fleet pages' check looks
	// for tables that overflow.
	w.headless(t, url, "--screenshot="+path, "--hide-scrollbars", fmt.Sprintf("--window-size=%d,%d", screenshotWidth, screenshotHeight))
	data, err := os.ReadFile(path)
	require.NoError(t, err, "chromium wrote no screenshot")
	config, err := png.DecodeConfig(bytes.NewReader(data))
	require.NoError(t, err, "%s is not a PNG", path)
	require.Equal(t, [2]int{screenshotWidth, screenshotHeight}, [2]int{config.Width, config.Height}, "screenshot size")
	return path
}

var (
	tags   = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`)
	spaces = regexp.MustCompile(`\s+`)
)

// pageText is the text a reader sees in the rendered DOM, blanks collapsed.
func pageText(dom []byte) string {
	return spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(string(dom), " ")), " ")
}
