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
	items, next, err := markerPage(out, in, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return listenersResult{Listeners: items, NextMarker: next}, nil
}

// elbModifyListener changes a listener's port, protocol or default actions;
// what is not given stays.
func (s *Server) elbModifyListener(in qmap) (any, error) {
	if err := in.required("ListenerArn"); err != nil {
		return nil, err
	}
	l, ok := s.listeners[in.str("ListenerArn")]
	if !ok {
		return nil, awsproto.Errorf("ListenerNotFound", "Listener '%s' not found", in.str("ListenerArn"))
	}
	port, err := in.intOr("Port", l.Port)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, validationErr("Port %d is out of range 1 to 65535", port)
	}
	for _, other := range s.listeners {
		if other != l && other.LoadBalancerArn == l.LoadBalancerArn && other.Port == port {
			return nil, awsproto.Errorf("DuplicateListener", "A listener already exists on this port for this load balancer '%s'", l.LoadBalancerArn)
		}
	}
	actions := l.DefaultActions
	if _, given := in["DefaultActions"]; given {
		if actions, err = s.normalizeActions(in.list("DefaultActions")); err != nil {
			return nil, err
		}
	}
	l.Port, l.DefaultActions = port, actions
	if p := in.str("Protocol"); p != "" {
		l.Protocol = p
	}
	for _, r := range s.rules {
		if r.listener == l && r.IsDefault {
			r.Actions = actions
		}
	}
	return listenersResult{Listeners: []*listener{l}}, nil
}
