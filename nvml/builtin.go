package nvml

import (
	"embed"
	"strings"
)

// The built-in fleets are fleet files, parsed like any other.
//
//go:embed fleets/*.yml
var builtinFiles embed.FS

// Fleets returns the names of the built-in fake fleets.
func Fleets() []string {
	entries, _ := builtinFiles.ReadDir("fleets") // embedded: cannot fail
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yml"))
	}
	return names
}

func fleetNames() string { return strings.Join(Fleets(), ", ") }

// builtinFleet returns the fleet file of a built-in fleet.
func builtinFleet(name string) ([]byte, bool) {
	data, err := builtinFiles.ReadFile("fleets/" + name + ".yml")
	return data, err == nil
}
