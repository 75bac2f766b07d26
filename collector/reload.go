package collector

import (
	"fmt"
	"net/http"
)

// ReloadHandler serves /-/reload: POST reloads the targets file when the
// lifecycle API is enabled; any other method gets 405. A failed reload
// answers 500 with the reason and keeps the targets loaded before.
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
		changed, err := store.Reload()
		if err != nil {
			http.Error(w, "failed to reload the targets file: "+err.Error(), http.StatusInternalServerError)
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
