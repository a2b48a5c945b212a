package awsim

import (
	"fmt"
	"sort"
	"strings"

	"ecs-deploy/internal/awsproto"
)

type loadBalancersResult struct {
	LoadBalancers []*loadBalancer `xml:"LoadBalancers>member"`
	NextMarker    string          `xml:"NextMarker,omitempty"`
}

func (s *Server) createLoadBalancer(name string, subnets, securityGroups []string, scheme string, tags []elbTag) (*loadBalancer, error) {
	if name == "" || len(name) > 32 || strings.HasPrefix(name, "internal-") || !validELBName(name) {
		return nil, validationErr("Load balancer name %q is invalid: up to 32 letters, numbers and hyphens, not starting or ending with a hyphen", name)
	}
	for _, lb := range s.lbs {
		if lb.LoadBalancerName == name {
			return lb, nil
		}
	}
	if scheme == "" {
		scheme = "internet-facing"
	}
	id := s.newID(16)
	lb := &loadBalancer{
		LoadBalancerArn:       s.arn("elasticloadbalancing", "loadbalancer/app/"+name+"/"+id),
		LoadBalancerName:      name,
		DNSName:               fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", name, id[:10], s.cfg.Region),
		CanonicalHostedZoneID: "Z35SXDOTRQ7X7K",
		CreatedTime:           isoTime(s.now),
		Scheme:                scheme,
		VpcID:                 "vpc-" + id[:8],
		State:                 lbState{Code: "active"},
		Type:                  "application",
		IPAddressType:         "ipv4",
		SecurityGroups:        securityGroups,
		tags:                  tags,
	}
	for i, sn := range subnets {
		lb.AvailabilityZones = append(lb.AvailabilityZones, availabilityZone{ZoneName: s.cfg.Region + string(rune('a'+i%6)), SubnetID: sn})
	}
	s.lbs[lb.LoadBalancerArn] = lb
	return lb, nil
}

func validELBName(name string) bool {
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (s *Server) elbCreateLoadBalancer(in qmap) (any, error) {
	if err := in.required("Name"); err != nil {
		return nil, err
	}
	if t := in.str("Type"); t != "" && t != "application" {
		return nil, validationErr("load balancer type %q is not emulated: only application", t)
	}
	lb, err := s.createLoadBalancer(in.str("Name"), in.strings("Subnets"), in.strings("SecurityGroups"), in.str("Scheme"), elbTags(in))
	if err != nil {
		return nil, err
	}
	return loadBalancersResult{LoadBalancers: []*loadBalancer{lb}}, nil
}

func (s *Server) elbDescribeLoadBalancers(in qmap) (any, error) {
	arns, names := in.strings("LoadBalancerArns"), in.strings("Names")
	var out []*loadBalancer
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			lb, ok := s.lbs[arn]
			if !ok {
				return nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancers '[%s]' not found", arn)
			}
			out = append(out, lb)
		}
	case len(names) > 0:
		for _, n := range names {
			found := false
			for _, lb := range s.lbs {
				if lb.LoadBalancerName == n {
					out, found = append(out, lb), true
				}
			}
			if !found {
				return nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancers '[%s]' not found", n)
			}
		}
	default:
		for _, lb := range s.lbs {
			out = append(out, lb)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].LoadBalancerName < out[j].LoadBalancerName })
	}
	items, next, err := markerPage(out, in, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return loadBalancersResult{LoadBalancers: items, NextMarker: next}, nil
}
