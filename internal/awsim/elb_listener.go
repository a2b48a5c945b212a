package awsim

import (
	"sort"

	"ecs-deploy/internal/awsproto"
)

type listenersResult struct {
	Listeners  []*listener `xml:"Listeners>member"`
	NextMarker string      `xml:"NextMarker,omitempty"`
}

func (s *Server) createListener(lbArn string, port int, protocol string, actions qlist) (*listener, error) {
	lb, ok := s.lbs[lbArn]
	if !ok {
		return nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
	}
	if port < 1 || port > 65535 {
		return nil, validationErr("Port %d is out of range 1 to 65535", port)
	}
	if protocol == "" {
		protocol = "HTTP"
	}
	actions, err := s.normalizeActions(actions)
	if err != nil {
		return nil, err
	}
	for _, l := range s.listeners {
		if l.LoadBalancerArn == lbArn && l.Port == port {
			return nil, awsproto.Errorf("DuplicateListener", "A listener already exists on this port for this load balancer '%s'", lbArn)
		}
	}
	id := s.newID(16)
	suffix := lbArn[len(s.arn("elasticloadbalancing", "loadbalancer/")):]
	l := &listener{
		ListenerArn:     s.arn("elasticloadbalancing", "listener/"+suffix+"/"+id),
		LoadBalancerArn: lb.LoadBalancerArn,
		Port:            port,
		Protocol:        protocol,
		DefaultActions:  actions,
	}
	s.listeners[l.ListenerArn] = l
	def := &rule{
		RuleArn:    s.ruleArn(l),
		Priority:   "default",
		IsDefault:  true,
		Conditions: qlist{},
		Actions:    actions,
		listener:   l,
	}
	s.rules[def.RuleArn] = def
	return l, nil
}

func (s *Server) ruleArn(l *listener) string {
	suffix := l.ListenerArn[len(s.arn("elasticloadbalancing", "listener/")):]
	return s.arn("elasticloadbalancing", "listener-rule/"+suffix+"/"+s.newID(16))
}

// normalizeActions checks actions and fills in what ELB fills in: the order,
// and the forward config of a single-target-group forward.
func (s *Server) normalizeActions(actions qlist) (qlist, error) {
	if len(actions) == 0 {
		return nil, validationErr("At least one action must be specified")
	}
	out := make(qlist, 0, len(actions))
	for i, a := range actions {
		m, ok := a.(qmap)
		if !ok {
			return nil, validationErr("Actions.member.%d is not a structure", i+1)
		}
		n := qmap{}
		for k, v := range m {
			n[k] = v
		}
		if n.str("Order") == "" {
			n["Order"] = itoa(i + 1)
		}
		switch n.str("Type") {
		case "forward":
			arn := n.str("TargetGroupArn")
			fc := n.sub("ForwardConfig")
			switch {
			case arn != "" && fc == nil:
				n["ForwardConfig"] = qmap{
					"TargetGroups":                qlist{qmap{"TargetGroupArn": arn, "Weight": "1"}},
					"TargetGroupStickinessConfig": qmap{"Enabled": "false"},
				}
			case arn == "" && fc == nil:
				return nil, validationErr("A forward action must specify a target group")
			}
			for _, tgArn := range forwardTargets(qlist{n}) {
				if _, ok := s.tgs[tgArn]; !ok {
					return nil, awsproto.Errorf("TargetGroupNotFound", "Target group '%s' not found", tgArn)
				}
			}
		case "fixed-response", "redirect", "authenticate-oidc", "authenticate-cognito":
		case "":
			return nil, validationErr("Actions.member.%d.Type is required", i+1)
		default:
			return nil, validationErr("Action type %q is not valid", n.str("Type"))
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Server) elbCreateListener(in qmap) (any, error) {
	if err := in.required("LoadBalancerArn", "DefaultActions"); err != nil {
		return nil, err
	}
	port, err := in.intOr("Port", 0)
	if err != nil {
		return nil, err
	}
	l, err := s.createListener(in.str("LoadBalancerArn"), port, in.str("Protocol"), in.list("DefaultActions"))
	if err != nil {
		return nil, err
	}
	l.tags = elbTags(in)
	return listenersResult{Listeners: []*listener{l}}, nil
}

func (s *Server) elbDescribeListeners(in qmap) (any, error) {
	arns, lbArn := in.strings("ListenerArns"), in.str("LoadBalancerArn")
	var out []*listener
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			l, ok := s.listeners[arn]
			if !ok {
				return nil, awsproto.Errorf("ListenerNotFound", "One or more listeners not found")
			}
			out = append(out, l)
		}
	case lbArn != "":
		if _, ok := s.lbs[lbArn]; !ok {
			return nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
		}
		for _, l := range s.listeners {
			if l.LoadBalancerArn == lbArn {
				out = append(out, l)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	default:
		return nil, validationErr("You must specify either listener ARNs or a load balancer ARN")
	}
	items, next, err := markerPage(out, in)
	if err != nil {
		return nil, err
	}
	return listenersResult{Listeners: items, NextMarker: next}, nil
}
