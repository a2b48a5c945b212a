package awsim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
)

func item(name string, weight, base int32) ecstypes.CapacityProviderStrategyItem {
	return ecstypes.CapacityProviderStrategyItem{CapacityProvider: aws.String(name), Weight: weight, Base: base}
}

// TestClusterCapacityProviders: a cluster has the Fargate capacity
// providers associated with it, by CreateCluster or
// PutClusterCapacityProviders, and a default strategy of those.
func TestClusterCapacityProviders(t *testing.T) {
	b := newBed(t, awsim.Config{})
	const notAssociated = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
	refused := []struct {
		name      string
		providers []string
		strategy  []ecstypes.CapacityProviderStrategyItem
		message   string
	}{
		{"unknown provider", []string{"FARGATE", "my-asg"}, nil,
			"The specified capacity provider my-asg does not exist. Specify a valid capacity provider and try again."},
		{"default strategy not associated", []string{"FARGATE"}, []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 1, 0)}, notAssociated},
		{"weight over 1000", []string{"FARGATE"}, []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1001, 0)},
			"The capacity provider weight must be between 0 and 1000."},
		{"base over 100000", []string{"FARGATE"}, []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1, 100001)},
			"The capacity provider base must be between 0 and 100000."},
		{"two bases", []string{"FARGATE", "FARGATE_SPOT"}, []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1, 1), item("FARGATE_SPOT", 1, 2)},
			"Only one capacity provider in a capacity provider strategy can have a base defined."},
		{"no weight", []string{"FARGATE"}, []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1)},
			"At least one capacity provider in a capacity provider strategy must have a weight greater than zero."},
	}
	for _, c := range refused {
		t.Run("CreateCluster "+c.name, func(t *testing.T) {
			_, err := b.ecs.CreateCluster(b.ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp"), CapacityProviders: c.providers,
				DefaultCapacityProviderStrategy: c.strategy})
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}

	sd := b.seed(t, awsim.Scenario{Name: "cp"})
	t.Run("seeded cluster", func(t *testing.T) {
		out, err := b.ecs.DescribeClusters(b.ctx, &ecs.DescribeClustersInput{Clusters: []string{sd.Cluster}})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Clusters[0]
		if len(c.CapacityProviders) != 2 || c.CapacityProviders[0] != "FARGATE" || c.CapacityProviders[1] != "FARGATE_SPOT" ||
			len(c.DefaultCapacityProviderStrategy) != 0 {
			t.Fatalf("seeded cluster: providers %v, default strategy %+v", c.CapacityProviders, c.DefaultCapacityProviderStrategy)
		}
	})
	t.Run("PutClusterCapacityProviders default strategy not associated", func(t *testing.T) {
		_, err := b.ecs.PutClusterCapacityProviders(b.ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: &sd.Cluster,
			CapacityProviders: []string{"FARGATE"}, DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 1, 0)}})
		wantAPIError(t, err, "InvalidParameterException", notAssociated)
	})
	t.Run("PutClusterCapacityProviders removing a provider in use", func(t *testing.T) {
		td := b.registerTaskDef(t, sd, "cp:v2")
		in := taskSetInput(sd, td, sd.TargetGroupArns["green"], "spot")
		in.LaunchType, in.CapacityProviderStrategy = "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 1, 0)}
		if _, err := b.ecs.CreateTaskSet(b.ctx, in); err != nil {
			t.Fatal(err)
		}
		b.sim.Advance(time.Minute)
		_, err := b.ecs.PutClusterCapacityProviders(b.ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: &sd.Cluster,
			CapacityProviders: []string{"FARGATE"}, DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{}})
		wantAPIError(t, err, "ResourceInUseException", "The specified capacity provider is in use and cannot be removed.")
	})
	t.Run("PutClusterCapacityProviders replaces both", func(t *testing.T) {
		out, err := b.ecs.PutClusterCapacityProviders(b.ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: &sd.Cluster,
			CapacityProviders:               []string{"FARGATE_SPOT", "FARGATE"},
			DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 2, 1), item("FARGATE_SPOT", 1, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Cluster
		if len(c.CapacityProviders) != 2 || len(c.DefaultCapacityProviderStrategy) != 2 || c.DefaultCapacityProviderStrategy[0].Base != 1 {
			t.Fatalf("cluster after PutClusterCapacityProviders: %v %+v", c.CapacityProviders, c.DefaultCapacityProviderStrategy)
		}
	})
}
