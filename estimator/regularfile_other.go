//go:build !unix

package estimator

// openNonblock is not needed where there are no FIFOs to open by name.
const openNonblock = 0
