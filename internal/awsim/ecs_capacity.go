package awsim

import (
	"slices"

	"ecs-deploy/internal/awsproto"
)

// fargateProviders are the capacity providers every account has; a cluster
// uses them once they are associated with it. The emulator has no
// CreateCapacityProvider, so they are the only ones a cluster can have.
var fargateProviders = []string{"FARGATE", "FARGATE_SPOT"}

// errNotAssociated is AWS's answer to a strategy naming a capacity
// provider that is not associated with the cluster.
func errNotAssociated() error {
	return invalidParam("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
}

// checkProviders refuses a list of capacity providers to associate that
// names one that does not exist.
func checkProviders(names []string) error {
	for _, name := range names {
		if !slices.Contains(fargateProviders, name) {
			return invalidParam("The specified capacity provider %s does not exist. Specify a valid capacity provider and try again.", name)
		}
	}
	return nil
}

// checkStrategy refuses a strategy that names a provider not in
// associated, has weights or bases out of range, more than one base, or no
// positive weight.
func checkStrategy(strategy []capacityProviderItem, associated []string) error {
	bases, weighted := 0, false
	for _, item := range strategy {
		if !slices.Contains(associated, item.CapacityProvider) {
			return errNotAssociated()
		}
		if item.Weight < 0 || item.Weight > 1000 {
			return invalidParam("The capacity provider weight must be between 0 and 1000.")
		}
		if item.Base < 0 || item.Base > 100000 {
			return invalidParam("The capacity provider base must be between 0 and 100000.")
		}
		if item.Base > 0 {
			bases++
		}
		weighted = weighted || item.Weight > 0
	}
	if bases > 1 {
		return invalidParam("Only one capacity provider in a capacity provider strategy can have a base defined.")
	}
	if len(strategy) > 0 && !weighted {
		return invalidParam("At least one capacity provider in a capacity provider strategy must have a weight greater than zero.")
	}
	return nil
}

// providerFor picks the capacity provider of the n-th task (from 0) placed
// with strategy: the provider with a base takes the first base tasks, the
// rest are shared out by weight.
func providerFor(strategy []capacityProviderItem, n int) string {
	for _, item := range strategy {
		if n < item.Base {
			return item.CapacityProvider
		}
		n -= item.Base
	}
	total := 0
	for _, item := range strategy {
		total += item.Weight
	}
	if total == 0 {
		return strategy[0].CapacityProvider
	}
	slot := n % total
	for _, item := range strategy {
		if slot < item.Weight {
			return item.CapacityProvider
		}
		slot -= item.Weight
	}
	return strategy[0].CapacityProvider
}

// providersInUse returns the capacity providers that live tasks of c run on.
func (s *Server) providersInUse(c *cluster) []string {
	var out []string
	for _, t := range s.tasks {
		if t.ClusterArn == c.ClusterArn && t.LastStatus != "STOPPED" && t.CapacityProvider != "" && !slices.Contains(out, t.CapacityProvider) {
			out = append(out, t.CapacityProvider)
		}
	}
	return out
}

// ecsPutClusterCapacityProviders replaces the capacity providers of a
// cluster and its default strategy; all three members are required, so
// the SDKs refuse a call without them before it is sent.
func (s *Server) ecsPutClusterCapacityProviders(body []byte) (any, error) {
	var in struct {
		Cluster                         string                 `json:"cluster"`
		CapacityProviders               []string               `json:"capacityProviders"`
		DefaultCapacityProviderStrategy []capacityProviderItem `json:"defaultCapacityProviderStrategy"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := checkProviders(in.CapacityProviders); err != nil {
		return nil, err
	}
	if err := checkStrategy(in.DefaultCapacityProviderStrategy, in.CapacityProviders); err != nil {
		return nil, err
	}
	for _, used := range s.providersInUse(c) {
		if !slices.Contains(in.CapacityProviders, used) {
			return nil, awsproto.Errorf("ResourceInUseException", "The specified capacity provider is in use and cannot be removed.")
		}
	}
	c.CapacityProviders = nonNilStrings(in.CapacityProviders)
	c.DefaultCapacityProviderStrategy = nonNilStrategy(in.DefaultCapacityProviderStrategy)
	return map[string]any{"cluster": c}, nil
}

func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func nonNilStrategy(l []capacityProviderItem) []capacityProviderItem {
	if l == nil {
		return []capacityProviderItem{}
	}
	return l
}
