//go:build linux

package model

import (
	"io/fs"
	"syscall"
)

// fileIdentity gives the device, inode and change time of a file.
func fileIdentity(info fs.FileInfo) (dev, ino uint64, ctime int64) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	sec, nsec := st.Ctim.Unix()
	return uint64(st.Dev), st.Ino, sec*1e9 + nsec
}
