package collector

import (
	"time"

	"github.com/vramfit/vramfit/estimator/targetsfile"
)

// reloadFailure is a reload of the targets file that failed, kept for the
// status page until a reload succeeds. err is the error as a page anyone
// may read shows it (targetsfile.PublicError).
type reloadFailure struct {
	err string
	at  time.Time
}

// reloadState is what the status page says about the targets file.
type reloadState struct {
	file string
	// loaded is the time of the last successful load; zero before it.
	loaded time.Time
	// failed is the last reload's failure, nil when it succeeded.
	failed *reloadFailure
}

func (s *TargetStore) reloadState() reloadState {
	st := reloadState{file: s.path, failed: s.lastFailure.Load()}
	if ns := s.lastSuccess.Load(); ns != 0 {
		st.loaded = time.Unix(0, ns)
	}
	return st
}

// noteReload records the outcome of a reload for the status page.
func (s *TargetStore) noteReload(err error) {
	if err == nil {
		s.lastFailure.Store(nil)
		return
	}
	s.lastFailure.Store(&reloadFailure{err: targetsfile.PublicError(err), at: time.Now()})
}
