package model

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// OpenRegular opens path for reading and refuses anything but a regular
// file. The open does not block (a FIFO would wait for a writer for ever),
// and the type is checked on the descriptor opened, not on the name, so
// that a file swapped between the check and the read is still the one
// checked.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is %s, not a regular file", path, fileKind(info.Mode()))
	}
	return f, info, nil
}

// fileKind names what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a file that can be read whole"
	}
}

// readRegular reads a regular file of at most limit bytes; more is refused
// from the size the file reports, unread.
func readRegular(path string, limit int64) ([]byte, error) {
	f, info, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := fmt.Errorf("%s is larger than the %d MiB limit for this file", path, limit>>20)
	if info.Size() > limit {
		return nil, tooLarge
	}
	// A file that grows while it is read is still read no further.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}
