package awsim

import (
	"sort"
	"strconv"

	"ecs-deploy/internal/awsproto"
)

type rulesResult struct {
	Rules      []*rule `xml:"Rules>member"`
	NextMarker string  `xml:"NextMarker,omitempty"`
}

func itoa(i int) string { return strconv.Itoa(i) }

func parsePriority(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 50000 {
		return 0, validationErr("Priority %q must be an integer from 1 to 50000", p)
	}
	return n, nil
}

// priorityTaken returns the rule of l holding priority p, other than skip.
func (s *Server) priorityTaken(l *listener, p int) *rule {
	for _, r := range s.rules {
		if r.listener == l && !r.IsDefault && r.Priority == itoa(p) {
			return r
		}
	}
	return nil
}

func (s *Server) createRule(listenerArn string, priority int, conditions, actions qlist) (*rule, error) {
	l, ok := s.listeners[listenerArn]
	if !ok {
		return nil, awsproto.Errorf("ListenerNotFound", "Listener '%s' not found", listenerArn)
	}
	if priority < 1 || priority > 50000 {
		return nil, validationErr("Priority %d must be from 1 to 50000", priority)
	}
	if len(conditions) == 0 {
		return nil, validationErr("A rule must have at least one condition")
	}
	if err := checkConditions(conditions); err != nil {
		return nil, err
	}
	actions, err := s.normalizeActions(actions)
	if err != nil {
		return nil, err
	}
	if s.priorityTaken(l, priority) != nil {
		return nil, awsproto.Errorf("PriorityInUse", "Priority '%d' is currently in use", priority)
	}
	r := &rule{RuleArn: s.ruleArn(l), Priority: itoa(priority), Conditions: conditions, Actions: actions, listener: l}
	s.rules[r.RuleArn] = r
	return r, nil
}

func checkConditions(conditions qlist) error {
	for i, c := range conditions {
		m, ok := c.(qmap)
		if !ok || m.str("Field") == "" {
			return validationErr("Conditions.member.%d.Field is required", i+1)
		}
	}
	return nil
}

func (s *Server) elbCreateRule(in qmap) (any, error) {
	if err := in.required("ListenerArn", "Priority", "Conditions", "Actions"); err != nil {
		return nil, err
	}
	p, err := parsePriority(in.str("Priority"))
	if err != nil {
		return nil, err
	}
	r, err := s.createRule(in.str("ListenerArn"), p, in.list("Conditions"), in.list("Actions"))
	if err != nil {
		return nil, err
	}
	r.tags = elbTags(in)
	return rulesResult{Rules: []*rule{r}}, nil
}

// sortRules orders rules by priority, default rules last.
func sortRules(rules []*rule) {
	sort.Slice(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.IsDefault != b.IsDefault {
			return !a.IsDefault
		}
		pa, _ := strconv.Atoi(a.Priority)
		pb, _ := strconv.Atoi(b.Priority)
		if pa != pb {
			return pa < pb
		}
		return a.RuleArn < b.RuleArn
	})
}

func (s *Server) elbDescribeRules(in qmap) (any, error) {
	arns, lArn := in.strings("RuleArns"), in.str("ListenerArn")
	var out []*rule
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			r, ok := s.rules[arn]
			if !ok {
				return nil, awsproto.Errorf("RuleNotFound", "One or more rules not found")
			}
			out = append(out, r)
		}
	case lArn != "":
		l, ok := s.listeners[lArn]
		if !ok {
			return nil, awsproto.Errorf("ListenerNotFound", "Listener '%s' not found", lArn)
		}
		for _, r := range s.rules {
			if r.listener == l {
				out = append(out, r)
			}
		}
		sortRules(out)
	default:
		return nil, validationErr("You must specify either listener ARN or rule ARNs")
	}
	items, next, err := markerPage(out, in, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return rulesResult{Rules: items, NextMarker: next}, nil
}

// elbSetRulePriorities changes the priorities of several rules at once: all
// change or, when any would clash, none does.
func (s *Server) elbSetRulePriorities(in qmap) (any, error) {
	if err := in.required("RulePriorities"); err != nil {
		return nil, err
	}
	items := in.structs("RulePriorities")
	if len(items) == 0 {
		return nil, validationErr("RulePriorities must not be empty")
	}
	want := map[*rule]int{}
	var order []*rule
	for i, it := range items {
		r, ok := s.rules[it.str("RuleArn")]
		if !ok {
			return nil, awsproto.Errorf("RuleNotFound", "One or more rules not found")
		}
		if r.IsDefault {
			return nil, awsproto.Errorf("OperationNotPermitted", "The default rule's priority cannot be changed")
		}
		if _, dup := want[r]; dup {
			return nil, validationErr("RulePriorities.member.%d names rule '%s' twice", i+1, r.RuleArn)
		}
		p, err := parsePriority(it.str("Priority"))
		if err != nil {
			return nil, err
		}
		want[r] = p
		order = append(order, r)
	}
	// The priorities each listener would have afterwards must be unique.
	taken := map[*listener]map[int]*rule{}
	for _, r := range s.rules {
		if r.IsDefault {
			continue
		}
		p, _ := strconv.Atoi(r.Priority)
		if np, ok := want[r]; ok {
			p = np
		}
		if taken[r.listener] == nil {
			taken[r.listener] = map[int]*rule{}
		}
		if other, clash := taken[r.listener][p]; clash && other != r {
			return nil, awsproto.Errorf("PriorityInUse", "Priority '%d' is currently in use", p)
		}
		taken[r.listener][p] = r
	}
	for _, r := range order {
		r.Priority = itoa(want[r])
	}
	return rulesResult{Rules: order}, nil
}

func (s *Server) elbModifyRule(in qmap) (any, error) {
	if err := in.required("RuleArn"); err != nil {
		return nil, err
	}
	r, ok := s.rules[in.str("RuleArn")]
	if !ok {
		return nil, awsproto.Errorf("RuleNotFound", "One or more rules not found")
	}
	conds, hasConds := in["Conditions"]
	acts, hasActs := in["Actions"]
	newConds, _ := conds.(qlist)
	if hasConds {
		if r.IsDefault {
			return nil, awsproto.Errorf("OperationNotPermitted", "The conditions of a default rule cannot be modified")
		}
		if err := checkConditions(newConds); err != nil {
			return nil, err
		}
	}
	newActs := r.Actions
	if hasActs {
		l, _ := acts.(qlist)
		var err error
		if newActs, err = s.normalizeActions(l); err != nil {
			return nil, err
		}
	}
	if hasConds {
		r.Conditions = newConds
	}
	r.Actions = newActs
	if r.IsDefault {
		r.listener.DefaultActions = newActs
	}
	return rulesResult{Rules: []*rule{r}}, nil
}

func (s *Server) elbDeleteRule(in qmap) (any, error) {
	if err := in.required("RuleArn"); err != nil {
		return nil, err
	}
	r, ok := s.rules[in.str("RuleArn")]
	if !ok {
		return nil, awsproto.Errorf("RuleNotFound", "One or more rules not found")
	}
	if r.IsDefault {
		return nil, awsproto.Errorf("OperationNotPermitted", "Default rule cannot be deleted")
	}
	delete(s.rules, r.RuleArn)
	return struct{}{}, nil
}
