package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// reloadTimeout bounds how long POST /-/reload waits for its reload.
const reloadTimeout = 10 * time.Second

// ReloadHandler serves /-/reload: POST reloads the targets file when the
// lifecycle API is enabled; any other method gets 405. The answer waits
// for the reload at most reloadTimeout. A failed reload answers 500 and
// keeps the targets loaded before; the reason goes to the log only, as the
// parser's errors quote the files it read, and the client may be anyone
// who reaches the port.
func ReloadHandler(store *TargetStore, lifecycle bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
			return
		}
		if !lifecycle {
			http.Error(w, "The lifecycle API is not enabled: start vramfit with --web.enable-lifecycle, or send it SIGHUP.",
				http.StatusForbidden)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), reloadTimeout)
		defer cancel()
		changed, err := store.ReloadContext(ctx)
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			http.Error(w, fmt.Sprintf("The reload did not finish within %s; vramfit_config_last_reload_successful tells its outcome.", reloadTimeout),
				http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, "Reloading the targets file failed; the targets loaded before are kept. The agent's log says why, as does `vramfit check-config` on the file.",
				http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !changed {
			fmt.Fprintln(w, "The targets file is unchanged.")
			return
		}
		fmt.Fprintf(w, "Loaded %d targets.\n", store.Targets().Len())
	})
}
