package estimator

// ParserEstimation is the estimation a targets file's parser kept in t
// (ResolveTarget's), or nil: for the external tests that parse a file.
func ParserEstimation(t Target) *Estimation {
	if t.resolved == nil {
		return nil
	}
	return t.resolved.est
}
