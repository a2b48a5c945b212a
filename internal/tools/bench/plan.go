package main

import (
	"time"

	"ecs-deploy/internal/awsim"
)

// plan is how much a run measures.
type plan struct {
	name string
	// overheadApps deploys at a time, overheadRounds each, one app each.
	overheadApps, overheadRounds int
	// overheadTimings are the emulator's state change durations for the
	// overhead and takeover runs.
	overheadTimings awsim.Timings
	// deregistration is the target groups' deregistration delay in
	// seconds; 0: the seeded default, 10.
	deregistration int
	// rollout is how long the calls run's rollout takes in the emulator.
	rollout time.Duration
	// concurrent deploys at once, with concurrentTimings.
	concurrent        int
	concurrentTimings awsim.Timings
	// takeoverArgs are the daemons' flags in the takeover run; none: the
	// defaults.
	takeoverArgs []string
	// fanoutDeploys are deployed one after the other for the fanout.
	fanoutDeploys int
}

// fullPlan follows the issue: at least 20 deploys, a 60-second rollout,
// 100 deploys at once, the daemon's defaults, the emulator's default
// timings (a rollout of 35 s: 20 s for the tasks to start, 15 s for their
// targets to pass a health check).
func fullPlan() plan {
	return plan{name: "full", overheadApps: 4, overheadRounds: 6, rollout: 60 * time.Second, concurrent: 100, fanoutDeploys: 24}
}

// quickPlan measures the same figures on fewer deploys and quicker
// rollouts (about 10 s), and takes over with a 6 s visibility timeout
// and a 2 s lease.
func quickPlan() plan {
	fast := awsim.Timings{Provision: time.Second, Start: 3 * time.Second, Registration: time.Second,
		Stop: time.Second, Restart: 2 * time.Second}
	return plan{name: "quick", overheadApps: 2, overheadRounds: 2, overheadTimings: fast, deregistration: 1, rollout: 20 * time.Second,
		concurrent: 20, concurrentTimings: fast,
		takeoverArgs:  []string{"-visibility-timeout", "6s", "-lock-lease", "2s", "-lock-heartbeat", "400ms"},
		fanoutDeploys: 6}
}
