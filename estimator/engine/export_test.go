package engine

// What the external tests (package engine_test, which imports the estimator
// that imports this package) need of the package's internals.

// WithDefaults is p.withDefaults.
func WithDefaults(p Profile, in Input) Input { return p.withDefaults(in) }

// GiBF is gibf.
func GiBF(b int64) float64 { return gibf(b) }
