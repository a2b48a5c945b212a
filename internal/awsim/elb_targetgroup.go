package awsim

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"ecs-deploy/internal/awsproto"
)

type targetGroupsResult struct {
	TargetGroups []*targetGroup `xml:"TargetGroups>member"`
	NextMarker   string         `xml:"NextMarker,omitempty"`
}

// healthCheckSettings are the health check parameters of CreateTargetGroup
// and ModifyTargetGroup; nil means not given.
type healthCheckSettings struct {
	Enabled                      *bool
	Path, Port, Protocol         string
	Interval, Timeout            *int
	HealthyCount, UnhealthyCount *int
	Matcher                      string
}

type createTargetGroupInput struct {
	Name, Protocol, VpcID, TargetType string
	Port                              int
	HealthCheck                       healthCheckSettings
	Tags                              []elbTag
}

var targetGroupProtocols = []string{"HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"}

func (s *Server) createTargetGroup(in createTargetGroupInput) (*targetGroup, error) {
	if in.Name == "" || len(in.Name) > 32 || !validELBName(in.Name) {
		return nil, validationErr("Target group name %q is invalid: up to 32 letters, numbers and hyphens, not starting or ending with a hyphen", in.Name)
	}
	if in.TargetType == "" {
		in.TargetType = "instance"
	}
	switch in.TargetType {
	case "instance", "ip", "alb":
		if in.Protocol == "" {
			in.Protocol = "HTTP"
		}
		if !slices.Contains(targetGroupProtocols, in.Protocol) {
			return nil, enumErr("protocol", in.Protocol, targetGroupProtocols)
		}
		if in.Port < 1 || in.Port > 65535 {
			return nil, validationErr("Port %d is out of range 1 to 65535", in.Port)
		}
	case "lambda":
	default:
		return nil, validationErr("TargetType %q is not one of instance, ip, lambda, alb", in.TargetType)
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
		HealthCheckPath:            "/",
		HealthCheckIntervalSeconds: 30,
		HealthCheckTimeoutSeconds:  5,
		HealthyThresholdCount:      5,
		UnhealthyThresholdCount:    2,
		Matcher:                    matcher{HTTPCode: "200"},
		IPAddressType:              "ipv4",
		tags:                       in.Tags,
		targets:                    map[string]*target{},
	}
	if in.TargetType == "lambda" {
		// Lambda target groups check less often and not at all by default.
		tg.HealthCheckEnabled, tg.HealthCheckIntervalSeconds, tg.HealthCheckTimeoutSeconds = false, 35, 30
		tg.Protocol, tg.HealthCheckProtocol, tg.HealthCheckPort = "", "", ""
	}
	if err := tg.applyHealthCheck(in.HealthCheck); err != nil {
		return nil, err
	}
	tg.attrs = defaultAttributes(tg)
	s.tgs[tg.TargetGroupArn] = tg
	return tg, nil
}

// applyHealthCheck checks health check settings against the ranges of the
// API and sets those given, or changes nothing.
func (tg *targetGroup) applyHealthCheck(h healthCheckSettings) error {
	for _, c := range []struct {
		field  string
		v      *int
		lo, hi int
	}{
		{"healthCheckIntervalSeconds", h.Interval, 5, 300},
		{"healthCheckTimeoutSeconds", h.Timeout, 2, 120},
		{"healthyThresholdCount", h.HealthyCount, 2, 10},
		{"unhealthyThresholdCount", h.UnhealthyCount, 2, 10},
	} {
		if c.v != nil {
			if err := rangeErr(c.field, *c.v, c.lo, c.hi); err != nil {
				return err
			}
		}
	}
	if h.Enabled != nil && !*h.Enabled && tg.TargetType != "lambda" {
		return validationErr("Health check enabled must be true for target groups with target type '%s'", tg.TargetType)
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return validationErr("Health check path '%s' must start with '/'", h.Path)
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&tg.HealthCheckIntervalSeconds, h.Interval)
	set(&tg.HealthCheckTimeoutSeconds, h.Timeout)
	set(&tg.HealthyThresholdCount, h.HealthyCount)
	set(&tg.UnhealthyThresholdCount, h.UnhealthyCount)
	if h.Enabled != nil {
		tg.HealthCheckEnabled = *h.Enabled
	}
	for dst, v := range map[*string]string{&tg.HealthCheckPath: h.Path, &tg.HealthCheckPort: h.Port, &tg.HealthCheckProtocol: h.Protocol, &tg.Matcher.HTTPCode: h.Matcher} {
		if v != "" {
			*dst = v
		}
	}
	return nil
}

// readHealthCheck reads the health check parameters of a request.
func readHealthCheck(in qmap) (healthCheckSettings, error) {
	h := healthCheckSettings{Path: in.str("HealthCheckPath"), Port: in.str("HealthCheckPort"),
		Protocol: in.str("HealthCheckProtocol"), Matcher: in.sub("Matcher").str("HttpCode")}
	for key, dst := range map[string]**int{"HealthCheckIntervalSeconds": &h.Interval, "HealthCheckTimeoutSeconds": &h.Timeout,
		"HealthyThresholdCount": &h.HealthyCount, "UnhealthyThresholdCount": &h.UnhealthyCount} {
		if _, ok := in[key]; !ok {
			continue
		}
		n, err := in.intOr(key, 0)
		if err != nil {
			return h, err
		}
		*dst = &n
	}
	if v, ok := in["HealthCheckEnabled"]; ok {
		b := v == "true"
		h.Enabled = &b
	}
	return h, nil
}

func (s *Server) elbCreateTargetGroup(in qmap) (any, error) {
	if err := in.required("Name"); err != nil {
		return nil, err
	}
	port, err := in.intOr("Port", 0)
	if err != nil {
		return nil, err
	}
	hc, err := readHealthCheck(in)
	if err != nil {
		return nil, err
	}
	tg, err := s.createTargetGroup(createTargetGroupInput{
		Name: in.str("Name"), Protocol: in.str("Protocol"), VpcID: in.str("VpcId"),
		TargetType: in.str("TargetType"), Port: port, HealthCheck: hc, Tags: elbTags(in),
	})
	if err != nil {
		return nil, err
	}
	s.fillLoadBalancerArns(tg)
	return targetGroupsResult{TargetGroups: []*targetGroup{tg}}, nil
}

// elbModifyTargetGroup changes a target group's health check settings; the
// health check count of its targets starts again under the new settings.
func (s *Server) elbModifyTargetGroup(in qmap) (any, error) {
	if err := in.required("TargetGroupArn"); err != nil {
		return nil, err
	}
	tg, err := s.findTargetGroup(in.str("TargetGroupArn"))
	if err != nil {
		return nil, err
	}
	hc, err := readHealthCheck(in)
	if err != nil {
		return nil, err
	}
	if err := tg.applyHealthCheck(hc); err != nil {
		return nil, err
	}
	s.recheckTargets(tg)
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
	items, next, err := markerPage(out, in, s.pageLimit)
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

type targetRef struct {
	id   string
	port int
}

// targetsRequest reads the target group and targets a request names.
func (s *Server) targetsRequest(in qmap) (*targetGroup, []targetRef, error) {
	if err := in.required("TargetGroupArn"); err != nil {
		return nil, nil, err
	}
	tg, err := s.findTargetGroup(in.str("TargetGroupArn"))
	if err != nil {
		return nil, nil, err
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
		if _, given := t["Port"]; given {
			if err := rangeErr("targets."+itoa(i+1)+".member.port", port, 1, 65535); err != nil {
				return nil, nil, err
			}
		}
		refs = append(refs, targetRef{t.str("Id"), port})
	}
	return tg, refs, nil
}

func (s *Server) elbRegisterTargets(in qmap) (any, error) {
	if err := in.required("Targets"); err != nil {
		return nil, err
	}
	tg, refs, err := s.targetsRequest(in)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, validationErr("Targets must name at least one target")
	}
	for _, r := range refs {
		if old, ok := tg.targets[targetKey(r.id, r.port)]; ok && old.State != stateDraining {
			continue
		}
		s.registerTarget(tg, r.id, r.port, nil, false)
	}
	return struct{}{}, nil
}

// elbDeregisterTargets drains the targets named; one that is not registered
// is no error.
func (s *Server) elbDeregisterTargets(in qmap) (any, error) {
	if err := in.required("Targets"); err != nil {
		return nil, err
	}
	tg, refs, err := s.targetsRequest(in)
	if err != nil {
		return nil, err
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
		state, r := "", reasonNone
		switch {
		case t == nil:
			state, r = stateUnused, reasonNotRegistered
		case !used && t.State != stateDraining:
			state, r = stateUnused, reasonNotInUse
		default:
			state, r = t.State, healthReason{t.Reason, t.Desc}
		}
		d.TargetHealth.State, d.TargetHealth.Reason, d.TargetHealth.Description = state, r.code, r.desc
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
