//go:build !unix

package model

// openNonblock is not needed where there are no FIFOs to open by name.
const openNonblock = 0
