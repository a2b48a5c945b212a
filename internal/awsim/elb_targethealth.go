package awsim

import "time"

// Target health states, as DescribeTargetHealth reports them. An Application
// Load Balancer never reports unhealthy.draining: that state belongs to
// Network Load Balancers whose target groups keep connections to unhealthy
// targets open (target_health_state.unhealthy.* attributes).
const (
	stateInitial     = "initial"
	stateHealthy     = "healthy"
	stateUnhealthy   = "unhealthy"
	stateUnused      = "unused"
	stateDraining    = "draining"
	stateUnavailable = "unavailable"
)

// healthReason is a target health reason code and the description the API
// gives with it.
type healthReason struct{ code, desc string }

var (
	reasonNone           = healthReason{}
	reasonRegistering    = healthReason{"Elb.RegistrationInProgress", "Target registration is in progress"}
	reasonInitialChecks  = healthReason{"Elb.InitialHealthChecking", "Initial health checks in progress"}
	reasonFailedChecks   = healthReason{"Target.FailedHealthChecks", "Health checks failed"}
	reasonDeregistering  = healthReason{"Target.DeregistrationInProgress", "Target deregistration is in progress"}
	reasonNotRegistered  = healthReason{"Target.NotRegistered", "Target is not registered to the target group"}
	reasonNotInUse       = healthReason{"Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"}
	reasonChecksDisabled = healthReason{"Target.HealthCheckDisabled", "Health checks are disabled for the target group"}
)

// set moves t to a state, making any transition scheduled before stale.
func (t *target) set(state string, r healthReason) {
	t.State, t.Reason, t.Desc = state, r.code, r.desc
	t.gen++
}

// interval is the target group's health check interval.
func (tg *targetGroup) interval() time.Duration {
	return time.Duration(tg.HealthCheckIntervalSeconds) * time.Second
}

// registerTarget adds a target to tg. A seeded target (healthy) starts
// healthy. Otherwise it is initial while its registration is in progress
// (Timings.Registration), then initial while the first health check runs;
// for a newly registered target one passing check is enough, whatever the
// healthy threshold. A target of a task set under the targets-unhealthy fault
// fails its checks.
func (s *Server) registerTarget(tg *targetGroup, id string, port int, t *task, healthy bool) *target {
	tgt := &target{ID: id, Port: port, task: t, failing: tg.failing || (t != nil && t.taskSet.fault.Kind == FaultTargetsUnhealthy)}
	tg.targets[targetKey(id, port)] = tgt
	switch {
	case healthy:
		tgt.set(stateHealthy, reasonNone)
	case !tg.HealthCheckEnabled:
		tgt.set(stateUnavailable, reasonChecksDisabled)
	default:
		tgt.set(stateInitial, reasonRegistering)
		s.afterTarget(tg, tgt, s.cfg.Timings.Registration, func() {
			tgt.set(stateInitial, reasonInitialChecks)
			s.scheduleHealthCheck(tg, tgt)
		})
	}
	return tgt
}

// afterTarget runs fn after d unless tgt has left tg or changed state by
// then.
func (s *Server) afterTarget(tg *targetGroup, tgt *target, d time.Duration, fn func()) {
	key, gen := targetKey(tgt.ID, tgt.Port), tgt.gen
	s.after(d, func() {
		if tg.targets[key] == tgt && tgt.gen == gen {
			fn()
		}
	})
}

// scheduleHealthCheck schedules the next change the health checks will make
// to tgt, given whether it passes them: an initial target turns healthy after
// one interval or unhealthy after UnhealthyThresholdCount intervals; a healthy
// target that fails turns unhealthy after UnhealthyThresholdCount intervals;
// an unhealthy target that passes turns healthy after HealthyThresholdCount
// intervals.
func (s *Server) scheduleHealthCheck(tg *targetGroup, tgt *target) {
	if !tg.HealthCheckEnabled {
		return
	}
	iv := tg.interval()
	checking := tgt.State == stateInitial && tgt.Reason == reasonInitialChecks.code
	switch {
	case checking && !tgt.failing:
		s.afterTarget(tg, tgt, iv, func() { s.setTargetHealth(tg, tgt, true) })
	case (checking || tgt.State == stateHealthy) && tgt.failing:
		s.afterTarget(tg, tgt, iv*time.Duration(tg.UnhealthyThresholdCount), func() { s.setTargetHealth(tg, tgt, false) })
	case tgt.State == stateUnhealthy && !tgt.failing:
		s.afterTarget(tg, tgt, iv*time.Duration(tg.HealthyThresholdCount), func() { s.setTargetHealth(tg, tgt, true) })
	}
}

// setTargetHealth records the verdict of tgt's health checks. The ECS
// scheduler hears of a target that stays unhealthy for Timings.Unhealthy.
func (s *Server) setTargetHealth(tg *targetGroup, tgt *target, healthy bool) {
	if healthy {
		tgt.set(stateHealthy, reasonNone)
	} else {
		tgt.set(stateUnhealthy, reasonFailedChecks)
	}
	s.scheduleHealthCheck(tg, tgt)
	if t := tgt.task; !healthy && t != nil {
		s.afterTarget(tg, tgt, s.cfg.Timings.Unhealthy, func() { s.taskFailedHealthChecks(t, tg) })
	}
}

// recheckTargets restarts the health check count of tg's targets, after its
// health check settings changed.
func (s *Server) recheckTargets(tg *targetGroup) {
	for _, tgt := range tg.targets {
		switch {
		case tgt.State == stateDraining || tgt.Reason == reasonRegistering.code:
		case !tg.HealthCheckEnabled:
			tgt.set(stateUnavailable, reasonChecksDisabled)
		case tgt.State == stateUnavailable:
			tgt.set(stateInitial, reasonInitialChecks)
			s.scheduleHealthCheck(tg, tgt)
		default:
			tgt.gen++
			s.scheduleHealthCheck(tg, tgt)
		}
	}
}

// deregisterTarget drains a target for the target group's deregistration
// delay, then removes it. It reports whether the target was registered.
func (s *Server) deregisterTarget(tg *targetGroup, id string, port int) bool {
	key := targetKey(id, port)
	tgt, ok := tg.targets[key]
	if !ok {
		return false
	}
	if tgt.State == stateDraining {
		return true
	}
	tgt.set(stateDraining, reasonDeregistering)
	s.afterTarget(tg, tgt, tg.deregistrationDelay(), func() { delete(tg.targets, key) })
	return true
}
