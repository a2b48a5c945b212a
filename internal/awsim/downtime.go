package awsim

import (
	"sort"
	"strconv"
	"time"
)

// Outage is an interval during which a listener's serving rule forwarded to
// target groups none of which had a healthy target.
type Outage struct {
	ListenerArn     string   `json:"listener_arn"`
	TargetGroupArns []string `json:"target_group_arns"`
	// Start and End are simulated times; End is zero while the outage lasts.
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

type downtimeRecord struct {
	// armed holds the listeners that have served a healthy target at least
	// once: a listener being set up is not down.
	armed   map[string]bool
	open    map[string]int // listener ARN to index in outages
	outages []Outage
}

// Downtime returns every outage so far, oldest first.
func (s *Server) Downtime() []Outage {
	s.lock()
	defer s.unlock()
	return append([]Outage(nil), s.downtime.outages...)
}

// ResetDowntime forgets the outages recorded so far.
func (s *Server) ResetDowntime() {
	s.lock()
	defer s.unlock()
	s.downtime.outages = nil
	s.downtime.open = nil
}

func (s *Server) checkDowntime() {
	d := &s.downtime
	if d.armed == nil {
		d.armed, d.open = map[string]bool{}, map[string]int{}
	}
	if d.open == nil {
		d.open = map[string]int{}
	}
	for arn, l := range s.listeners {
		tgs := s.servingTargetGroups(l)
		if len(tgs) == 0 {
			continue
		}
		healthy := false
		for _, tg := range tgs {
			if hasHealthyTarget(tg) {
				healthy = true
				break
			}
		}
		i, isOpen := d.open[arn]
		switch {
		case healthy:
			d.armed[arn] = true
			if isOpen {
				d.outages[i].End = s.now
				delete(d.open, arn)
			}
		case d.armed[arn] && !isOpen:
			arns := make([]string, len(tgs))
			for j, tg := range tgs {
				arns[j] = tg.TargetGroupArn
			}
			d.open[arn] = len(d.outages)
			d.outages = append(d.outages, Outage{ListenerArn: arn, TargetGroupArns: arns, Start: s.now})
		}
	}
}

func hasHealthyTarget(tg *targetGroup) bool {
	for _, t := range tg.targets {
		if t.State == "healthy" {
			return true
		}
	}
	return false
}

// servingRule returns the listener's rule with the lowest priority, or its
// default rule when it has no other.
func (s *Server) servingRule(l *listener) *rule {
	var best *rule
	bestPrio := 0
	var def *rule
	for _, r := range s.rules {
		if r.listener != l {
			continue
		}
		if r.IsDefault {
			def = r
			continue
		}
		p, _ := strconv.Atoi(r.Priority)
		if best == nil || p < bestPrio {
			best, bestPrio = r, p
		}
	}
	if best == nil {
		return def
	}
	return best
}

// servingTargetGroups returns the target groups the serving rule forwards
// to with a weight above zero.
func (s *Server) servingTargetGroups(l *listener) []*targetGroup {
	r := s.servingRule(l)
	if r == nil {
		return nil
	}
	var out []*targetGroup
	for _, arn := range forwardTargets(r.Actions) {
		if tg, ok := s.tgs[arn]; ok {
			out = append(out, tg)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TargetGroupArn < out[j].TargetGroupArn })
	return out
}

// forwardTargets returns the target groups forward actions send traffic to.
func forwardTargets(actions qlist) []string {
	var out []string
	for _, a := range actions {
		m, ok := a.(qmap)
		if !ok || m.str("Type") != "forward" {
			continue
		}
		if fc := m.sub("ForwardConfig"); fc != nil {
			for _, tg := range fc.structs("TargetGroups") {
				if w := tg.str("Weight"); w == "" || w != "0" {
					out = append(out, tg.str("TargetGroupArn"))
				}
			}
			continue
		}
		if arn := m.str("TargetGroupArn"); arn != "" {
			out = append(out, arn)
		}
	}
	return out
}
