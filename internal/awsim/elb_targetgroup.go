package awsim

import (
	"slices"
	"sort"
	"strconv"

	"ecs-deploy/internal/awsproto"
)

type targetGroupsResult struct {
	TargetGroups []*targetGroup `xml:"TargetGroups>member"`
	NextMarker   string         `xml:"NextMarker,omitempty"`
}

type createTargetGroupInput struct {
	Name, Protocol, VpcID, TargetType, HealthCheckPath string
	Port                                               int
	Tags                                               []elbTag
}

func (s *Server) createTargetGroup(in createTargetGroupInput) (*targetGroup, error) {
	if in.Name == "" || len(in.Name) > 32 || !validELBName(in.Name) {
		return nil, validationErr("Target group name %q is invalid: up to 32 letters, numbers and hyphens, not starting or ending with a hyphen", in.Name)
	}
	if in.Protocol == "" {
		in.Protocol = "HTTP"
	}
	if in.TargetType == "" {
		in.TargetType = "instance"
	}
	switch in.TargetType {
	case "instance", "ip", "lambda", "alb":
	default:
		return nil, validationErr("TargetType %q is not one of instance, ip, lambda, alb", in.TargetType)
	}
	if in.Port < 1 || in.Port > 65535 {
		return nil, validationErr("Port %d is out of range 1 to 65535", in.Port)
	}
	if in.HealthCheckPath == "" {
		in.HealthCheckPath = "/"
	}
	for _, tg := range s.tgs {
		if tg.TargetGroupName != in.Name {
			continue
		}
		if tg.Protocol == in.Protocol && tg.Port == in.Port && tg.TargetType == in.TargetType {
			return tg, nil
		}
		return nil, awsproto.Errorf("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", in.Name)
	}
	tg := &targetGroup{
		TargetGroupArn:             s.arn("elasticloadbalancing", "targetgroup/"+in.Name+"/"+s.newID(16)),
		TargetGroupName:            in.Name,
		Protocol:                   in.Protocol,
		Port:                       in.Port,
		VpcID:                      in.VpcID,
		TargetType:                 in.TargetType,
		HealthCheckEnabled:         true,
		HealthCheckProtocol:        in.Protocol,
		HealthCheckPort:            "traffic-port",
		HealthCheckPath:            in.HealthCheckPath,
		HealthCheckIntervalSeconds: 30,
		HealthCheckTimeoutSeconds:  5,
		HealthyThresholdCount:      5,
		UnhealthyThresholdCount:    2,
		Matcher:                    matcher{HTTPCode: "200"},
		IPAddressType:              "ipv4",
		tags:                       in.Tags,
		targets:                    map[string]*target{},
	}
	s.tgs[tg.TargetGroupArn] = tg
	return tg, nil
}

func (s *Server) elbCreateTargetGroup(in qmap) (any, error) {
	if err := in.required("Name"); err != nil {
		return nil, err
	}
	port, err := in.intOr("Port", 0)
	if err != nil {
		return nil, err
	}
	tg, err := s.createTargetGroup(createTargetGroupInput{
		Name: in.str("Name"), Protocol: in.str("Protocol"), VpcID: in.str("VpcId"),
		TargetType: in.str("TargetType"), HealthCheckPath: in.str("HealthCheckPath"),
		Port: port, Tags: elbTags(in),
	})
	if err != nil {
		return nil, err
	}
	s.fillLoadBalancerArns(tg)
	return targetGroupsResult{TargetGroups: []*targetGroup{tg}}, nil
}

// fillLoadBalancerArns sets the load balancers whose listeners use tg.
func (s *Server) fillLoadBalancerArns(tg *targetGroup) {
	seen := map[string]bool{}
	tg.LoadBalancerArns = nil
	for _, r := range s.rules {
		for _, arn := range forwardTargets(r.Actions) {
			if arn == tg.TargetGroupArn && !seen[r.listener.LoadBalancerArn] {
				seen[r.listener.LoadBalancerArn] = true
				tg.LoadBalancerArns = append(tg.LoadBalancerArns, r.listener.LoadBalancerArn)
			}
		}
	}
	sort.Strings(tg.LoadBalancerArns)
}

func (s *Server) elbDescribeTargetGroups(in qmap) (any, error) {
	arns, names, lbArn := in.strings("TargetGroupArns"), in.strings("Names"), in.str("LoadBalancerArn")
	var out []*targetGroup
	for _, tg := range s.tgs {
		s.fillLoadBalancerArns(tg)
	}
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			tg, ok := s.tgs[arn]
			if !ok {
				return nil, awsproto.Errorf("TargetGroupNotFound", "One or more target groups not found")
			}
			out = append(out, tg)
		}
	case len(names) > 0:
		for _, n := range names {
			found := false
			for _, tg := range s.tgs {
				if tg.TargetGroupName == n {
					out, found = append(out, tg), true
				}
			}
			if !found {
				return nil, awsproto.Errorf("TargetGroupNotFound", "One or more target groups not found")
			}
		}
	default:
		if lbArn != "" {
			if _, ok := s.lbs[lbArn]; !ok {
				return nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
			}
		}
		for _, tg := range s.tgs {
			if lbArn == "" || slices.Contains(tg.LoadBalancerArns, lbArn) {
				out = append(out, tg)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].TargetGroupName < out[j].TargetGroupName })
	}
	items, next, err := markerPage(out, in)
	if err != nil {
		return nil, err
	}
	return targetGroupsResult{TargetGroups: items, NextMarker: next}, nil
}

func targetKey(id string, port int) string { return id + ":" + strconv.Itoa(port) }

// inUse says whether any listener rule forwards to tg.
func (s *Server) inUse(tg *targetGroup) bool {
	for _, r := range s.rules {
		for _, arn := range forwardTargets(r.Actions) {
			if arn == tg.TargetGroupArn {
				return true
			}
		}
	}
	return false
}

// registerTarget adds a target that starts "initial" and passes its health
// checks after Timings.HealthCheck, unless its task set is faulted.
func (s *Server) registerTarget(tg *targetGroup, id string, port int, t *task, healthy bool) *target {
	key := targetKey(id, port)
	tgt := &target{ID: id, Port: port, State: "initial", Reason: "Elb.RegistrationInProgress", Desc: "Target registration is in progress", task: t}
	if healthy {
		tgt.State, tgt.Reason, tgt.Desc = "healthy", "", ""
	}
	tg.targets[key] = tgt
	if healthy {
		return tgt
	}
	s.after(s.cfg.Timings.HealthCheck, func() {
		if tg.targets[key] != tgt || tgt.State != "initial" {
			return
		}
		if t != nil && t.taskSet.fault.Kind == FaultTargetsUnhealthy {
			tgt.State, tgt.Reason, tgt.Desc = "unhealthy", "Target.FailedHealthChecks", "Health checks failed"
			return
		}
		tgt.State, tgt.Reason, tgt.Desc = "healthy", "", ""
	})
	return tgt
}

// deregisterTarget drains a target, then removes it.
func (s *Server) deregisterTarget(tg *targetGroup, id string, port int) bool {
	key := targetKey(id, port)
	tgt, ok := tg.targets[key]
	if !ok {
		return false
	}
	if tgt.State == "draining" {
		return true
	}
	tgt.State, tgt.Reason, tgt.Desc = "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
	s.after(s.cfg.Timings.Deregistration, func() {
		if tg.targets[key] == tgt {
			delete(tg.targets, key)
		}
	})
	return true
}

type targetRef struct {
	id   string
	port int
}

// targetsRequest reads the target group and targets a request names.
func (s *Server) targetsRequest(in qmap) (*targetGroup, []targetRef, error) {
	if err := in.required("TargetGroupArn"); err != nil {
		return nil, nil, err
	}
	tg, ok := s.tgs[in.str("TargetGroupArn")]
	if !ok {
		return nil, nil, awsproto.Errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	var refs []targetRef
	for i, t := range in.structs("Targets") {
		if t.str("Id") == "" {
			return nil, nil, awsproto.Errorf("InvalidTarget", "Targets.member.%d.Id is empty", i+1)
		}
		port, err := t.intOr("Port", tg.Port)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, targetRef{t.str("Id"), port})
	}
	return tg, refs, nil
}

func (s *Server) elbRegisterTargets(in qmap) (any, error) {
	tg, refs, err := s.targetsRequest(in)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, validationErr("Targets must name at least one target")
	}
	for _, r := range refs {
		if old, ok := tg.targets[targetKey(r.id, r.port)]; ok && old.State != "draining" {
			continue
		}
		s.registerTarget(tg, r.id, r.port, nil, false)
	}
	return struct{}{}, nil
}

func (s *Server) elbDeregisterTargets(in qmap) (any, error) {
	tg, refs, err := s.targetsRequest(in)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if _, ok := tg.targets[targetKey(r.id, r.port)]; !ok {
			return nil, awsproto.Errorf("InvalidTarget", "The following targets are not registered: '%s'", r.id)
		}
	}
	for _, r := range refs {
		s.deregisterTarget(tg, r.id, r.port)
	}
	return struct{}{}, nil
}

type targetHealthResult struct {
	TargetHealthDescriptions []targetHealthDescription `xml:"TargetHealthDescriptions>member"`
}

func (s *Server) elbDescribeTargetHealth(in qmap) (any, error) {
	tg, refs, err := s.targetsRequest(in)
	if err != nil {
		return nil, err
	}
	used := s.inUse(tg)
	describe := func(id string, port int, t *target) targetHealthDescription {
		var d targetHealthDescription
		d.Target.ID, d.Target.Port, d.HealthCheckPort = id, port, strconv.Itoa(port)
		switch {
		case t == nil:
			d.TargetHealth.State, d.TargetHealth.Reason, d.TargetHealth.Description = "unused", "Target.NotRegistered", "Target is not registered to the target group"
		case !used && t.State != "draining":
			d.TargetHealth.State, d.TargetHealth.Reason, d.TargetHealth.Description = "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"
		default:
			d.TargetHealth.State, d.TargetHealth.Reason, d.TargetHealth.Description = t.State, t.Reason, t.Desc
		}
		return d
	}
	out := targetHealthResult{TargetHealthDescriptions: []targetHealthDescription{}}
	if len(refs) > 0 {
		for _, r := range refs {
			out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, describe(r.id, r.port, tg.targets[targetKey(r.id, r.port)]))
		}
		return out, nil
	}
	keys := make([]string, 0, len(tg.targets))
	for k := range tg.targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := tg.targets[k]
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, describe(t.ID, t.Port, t))
	}
	return out, nil
}
