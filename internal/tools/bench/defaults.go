package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"time"
)

// daemonDefaults are the daemon's defaults the targets depend on, read
// from its -h, so the benchmark holds the binary to what it really does.
type daemonDefaults struct {
	visibility, lease, heartbeat time.Duration
	// rolesUsage is what -h says of -roles.
	rolesUsage string
}

var (
	defaultPattern = regexp.MustCompile(`(?m)^\s+-([a-z-]+) \w+\n\s+.*\(default ([^)]+)\)$`)
	rolesPattern   = regexp.MustCompile(`(?m)^\s+-roles \w+\n\s+(.*)$`)
)

// readDefaults runs the daemon with -h and reads its flags' defaults.
func readDefaults(ctx context.Context, bin string) (daemonDefaults, error) {
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	return parseDefaults(string(out))
}

func parseDefaults(help string) (daemonDefaults, error) {
	found := map[string]string{}
	for _, m := range defaultPattern.FindAllStringSubmatch(help, -1) {
		found[m[1]] = m[2]
	}
	var d daemonDefaults
	for name, target := range map[string]*time.Duration{"visibility-timeout": &d.visibility, "lock-lease": &d.lease, "lock-heartbeat": &d.heartbeat} {
		v, err := time.ParseDuration(found[name])
		if err != nil {
			return d, fmt.Errorf("the daemon's -h gives no duration default for -%s (%q)", name, found[name])
		}
		*target = v
	}
	if m := rolesPattern.FindStringSubmatch(help); m != nil {
		d.rolesUsage = m[1]
	}
	return d, nil
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
