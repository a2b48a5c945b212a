package awsim

import (
	"slices"
	"sort"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// setAlarmState sets an alarm's state; when it changes, the composite alarms
// whose rules name the alarm are evaluated again, and theirs in turn.
func (s *Server) setAlarmState(a *alarm, state, reason string) {
	changed := a.state != state
	a.state, a.reason, a.updated = state, reason, s.now
	if changed {
		s.evaluateParents(a)
	}
}

// alarmStateOf returns the state of the alarm a rule names by name or ARN,
// "" for none.
func (s *Server) alarmStateOf(ref string) string {
	if a, ok := s.alarms[ref]; ok {
		return a.state
	}
	for _, a := range s.alarms {
		if a.arn == ref {
			return a.state
		}
	}
	return ""
}

// evaluateParents evaluates the composite alarms over a changed alarm, then
// those over any of them that changed, and so on. A cycle of composite alarms
// stops being evaluated after a bounded number of rounds, as CloudWatch stops
// evaluating one it detects.
func (s *Server) evaluateParents(changed *alarm) {
	var composites []*alarm
	for _, a := range s.alarms {
		if a.rule != nil {
			composites = append(composites, a)
		}
	}
	sort.Slice(composites, func(i, j int) bool { return composites[i].name < composites[j].name })
	queue := []*alarm{changed}
	for rounds := 0; len(queue) > 0 && rounds <= len(composites)*len(composites); rounds++ {
		c := queue[0]
		queue = queue[1:]
		for _, p := range composites {
			refs := p.rule.refs(nil)
			if (slices.Contains(refs, c.name) || slices.Contains(refs, c.arn)) && s.evaluateComposite(p) {
				queue = append(queue, p)
			}
		}
	}
}

// evaluateComposite sets a composite alarm to ALARM when its rule holds and
// to OK when it does not, and says whether its state changed.
func (s *Server) evaluateComposite(a *alarm) bool {
	state, verdict := "OK", "FALSE"
	if a.rule.eval(s.alarmStateOf) {
		state, verdict = "ALARM", "TRUE"
	}
	if state == a.state {
		return false
	}
	a.state, a.reason, a.updated = state, "AlarmRule evaluated to "+verdict, s.now
	return true
}

// cwPutCompositeAlarm creates or replaces a composite alarm. Every alarm its
// rule names must exist. A new composite alarm starts INSUFFICIENT_DATA and
// is evaluated at once; an updated one keeps its state until evaluated
// under its new rule, which also happens at once.
func (s *Server) cwPutCompositeAlarm(in cwInput) (map[string]any, error) {
	for _, k := range []string{"AlarmName", "AlarmRule"} {
		if in.str(k) == "" {
			return nil, cwValidation("Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(k))
		}
	}
	name, src := in.str("AlarmName"), in.str("AlarmRule")
	rule, err := parseAlarmRule(src)
	if err != nil {
		return nil, awsproto.Errorf("ValidationError", "AlarmRule is not valid: %v", err)
	}
	var missing []string
	for _, ref := range rule.refs(nil) {
		if s.alarmStateOf(ref) == "" && !slices.Contains(missing, ref) {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return nil, awsproto.Errorf("ValidationError", "Could not save the composite alarm as alarms [%s] in the alarm rule do not exist", strings.Join(missing, ", "))
	}
	a := s.alarms[name]
	switch {
	case a == nil:
		a = &alarm{name: name, arn: s.arn("cloudwatch", "alarm:"+name), state: "INSUFFICIENT_DATA",
			reason: "Unchecked: Initial alarm creation", updated: s.now}
		s.alarms[name] = a
	case a.rule == nil:
		return nil, awsproto.Errorf("ValidationError", "Alarm %s is a metric alarm and cannot be made a composite alarm", name)
	}
	a.rule, a.ruleSrc, a.configured = rule, src, s.now
	if s.evaluateComposite(a) {
		s.evaluateParents(a)
	}
	return map[string]any{}, nil
}
