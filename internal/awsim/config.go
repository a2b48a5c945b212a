package awsim

import (
	"errors"
	"fmt"
	"time"
)

// Config sets up a Server.
type Config struct {
	// Region is used in ARNs. Default "us-east-1".
	Region string
	// AccountID is used in ARNs. Default "123456789012".
	AccountID string
	// AccessKeys maps access key IDs to the accounts they belong to;
	// requests signed with a key not listed are AccountID's. Default none.
	AccessKeys map[string]string
	// TimeScale is how many simulated seconds pass per real second. Default 1
	// (real time); tests use 100 or more.
	TimeScale float64
	// Timings are the simulated durations of ECS and ELB state changes.
	// Each zero field takes its default.
	Timings Timings
	// Seed makes IDs and fault draws repeatable. Default 1.
	Seed uint64
	// Now is the real clock. Default time.Now.
	Now func() time.Time
}

// Timings are simulated durations of the state changes a deploy waits for.
type Timings struct {
	// Provision is PROVISIONING to PENDING. Default 5s.
	Provision time.Duration `json:"provision,omitempty"`
	// Start is PENDING to RUNNING. Default 15s.
	Start time.Duration `json:"start,omitempty"`
	// Registration is how long a newly registered target stays initial
	// (Elb.RegistrationInProgress) before the load balancer sends it its first
	// health check. AWS publishes no figure for it. Default 10s.
	//
	// Everything else about target health follows the target group's own
	// settings: a new target turns healthy one HealthCheckIntervalSeconds
	// after its registration completes, a failing one unhealthy after
	// UnhealthyThresholdCount intervals, a recovering one healthy after
	// HealthyThresholdCount intervals, and a deregistered one drains for the
	// deregistration_delay.timeout_seconds attribute.
	Registration time.Duration `json:"registration,omitempty"`
	// Unhealthy is how long the ECS scheduler takes to notice that a task's
	// target turned unhealthy and stop the task. AWS publishes no figure
	// for it. Default 10s.
	Unhealthy time.Duration `json:"unhealthy,omitempty"`
	// Stop is STOPPING to STOPPED. Default 5s.
	Stop time.Duration `json:"stop,omitempty"`
	// Restart is how long the scheduler waits before replacing a task that
	// stopped on its own. Default 10s.
	Restart time.Duration `json:"restart,omitempty"`
	// TaskExit is how long a task under the tasks-exit fault runs before its
	// essential container exits. Default 10s.
	TaskExit time.Duration `json:"task_exit,omitempty"`
}

func (c *Config) setDefaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	t := &c.Timings
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{
		{&t.Provision, 5 * time.Second},
		{&t.Start, 15 * time.Second},
		{&t.Registration, 10 * time.Second},
		{&t.Unhealthy, 10 * time.Second},
		{&t.Stop, 5 * time.Second},
		{&t.Restart, 10 * time.Second},
		{&t.TaskExit, 10 * time.Second},
	} {
		if *d.field == 0 {
			*d.field = d.def
		}
	}
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	if c.TimeScale < 0 {
		errs = append(errs, fmt.Errorf("awsim.Config.TimeScale is negative (%v)", c.TimeScale))
	}
	if !accountPattern.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("awsim.Config.AccountID %q is not 12 digits", c.AccountID))
	}
	for key, account := range c.AccessKeys {
		if !accountPattern.MatchString(account) {
			errs = append(errs, fmt.Errorf("awsim.Config.AccessKeys[%q] is %q, not 12 digits", key, account))
		}
	}
	t := c.Timings
	for name, d := range map[string]time.Duration{
		"Provision": t.Provision, "Start": t.Start, "Registration": t.Registration,
		"Unhealthy": t.Unhealthy, "Stop": t.Stop, "Restart": t.Restart, "TaskExit": t.TaskExit,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("awsim.Config.Timings.%s is negative (%v)", name, d))
		}
	}
	return errors.Join(errs...)
}
