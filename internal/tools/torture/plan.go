package main

import "time"

// plan is how big a run is.
type plan struct {
	name string
	// requests for apps apps, sent evenly over sendFor.
	requests, apps int
	sendFor        time.Duration
	// replicas daemons; one is killed and started again every killEvery.
	replicas  int
	killEvery time.Duration
	// deadline bounds the whole load, from the first send to the last
	// outcome.
	deadline time.Duration
}

// fullPlan is the issue's: 1,000 requests across 50 app/envs.
func fullPlan() plan {
	return plan{name: "full", requests: 1000, apps: 50, sendFor: 150 * time.Second, replicas: 3, killEvery: 20 * time.Second,
		deadline: 15 * time.Minute}
}

// quickPlan fits in five minutes, for CI.
func quickPlan() plan {
	return plan{name: "quick", requests: 150, apps: 10, sendFor: 40 * time.Second, replicas: 3, killEvery: 20 * time.Second,
		deadline: 3 * time.Minute}
}
