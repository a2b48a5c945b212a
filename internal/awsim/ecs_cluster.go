package awsim

import (
	"sort"
	"strings"

	"ecs-deploy/internal/awsproto"
)

type createClusterInput struct {
	ClusterName                     string                 `json:"clusterName"`
	CapacityProviders               []string               `json:"capacityProviders"`
	DefaultCapacityProviderStrategy []capacityProviderItem `json:"defaultCapacityProviderStrategy"`
	Tags                            []ecsTag               `json:"tags"`
}

// createCluster creates a cluster, or returns the one of that name.
func (s *Server) createCluster(in createClusterInput) (*cluster, error) {
	if in.ClusterName == "" {
		in.ClusterName = "default"
	}
	if !validName(in.ClusterName) {
		return nil, invalidParam("Cluster name %q is invalid: up to 255 letters, numbers, hyphens and underscores.", in.ClusterName)
	}
	if err := checkProviders(in.CapacityProviders); err != nil {
		return nil, err
	}
	if err := checkStrategy(in.DefaultCapacityProviderStrategy, in.CapacityProviders); err != nil {
		return nil, err
	}
	if c, ok := s.clusters[in.ClusterName]; ok {
		return c, nil
	}
	c := &cluster{ClusterArn: s.arn("ecs", "cluster/"+in.ClusterName), ClusterName: in.ClusterName, Status: "ACTIVE",
		CapacityProviders:               nonNilStrings(in.CapacityProviders),
		DefaultCapacityProviderStrategy: nonNilStrategy(in.DefaultCapacityProviderStrategy),
		Tags:                            in.Tags}
	s.clusters[in.ClusterName] = c
	return c, nil
}

func (s *Server) findCluster(ref string) (*cluster, error) {
	if ref == "" {
		ref = "default"
	}
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		name = lastPart(ref)
	}
	c, ok := s.clusters[name]
	if !ok || (strings.HasPrefix(ref, "arn:") && c.ClusterArn != ref) {
		return nil, awsproto.Errorf("ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

func (s *Server) ecsCreateCluster(body []byte) (any, error) {
	var in createClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.createCluster(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"cluster": c}, nil
}

func (s *Server) ecsDescribeClusters(body []byte) (any, error) {
	var in struct {
		Clusters []string `json:"clusters"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{"default"}
	}
	out := []*cluster{}
	failures := []ecsFailure{}
	for _, ref := range in.Clusters {
		c, err := s.findCluster(ref)
		if err != nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = s.arn("ecs", "cluster/"+ref)
			}
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out = append(out, c)
	}
	return map[string]any{"clusters": out, "failures": failures}, nil
}

func (s *Server) ecsListClusters(body []byte) (any, error) {
	var in struct {
		MaxResults *int   `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	arns := []string{}
	for _, c := range s.clusters {
		arns = append(arns, c.ClusterArn)
	}
	sort.Strings(arns)
	items, next, err := page(arns, in.MaxResults, 100, in.NextToken, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return map[string]any{"clusterArns": items, "nextToken": omitEmpty(next)}, nil
}

// omitEmpty turns "" into nil, which JSON writes as null and the SDKs read
// as absent.
func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func validName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
