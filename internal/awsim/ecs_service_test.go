package awsim_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
)

// TestCreateExternalService: a service with the EXTERNAL deployment
// controller takes none of what belongs to its task sets.
func TestCreateExternalService(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "ext"})
	cases := []struct {
		name    string
		edit    func(*ecs.CreateServiceInput)
		message string
	}{
		{"task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("ext:1") }, "TaskDefinition must be blank."},
		{"empty task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("") }, "Family should not be null or empty."},
		{"launch type", func(in *ecs.CreateServiceInput) { in.LaunchType = ecstypes.LaunchTypeFargate }, "LaunchType must be null."},
		{"capacity provider strategy", func(in *ecs.CreateServiceInput) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}
		}, "CapacityProviderStrategy must be empty or null."},
		{"platform version", func(in *ecs.CreateServiceInput) { in.PlatformVersion = aws.String("LATEST") }, "PlatformVersion must be null."},
		{"network configuration", func(in *ecs.CreateServiceInput) {
			in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets}}
		}, "NetworkConfiguration must be null."},
		{"load balancers", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["blue"]),
				ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}}
		}, "LoadBalancers must be empty or null."},
		{"service registries", func(in *ecs.CreateServiceInput) {
			in.ServiceRegistries = []ecstypes.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1")}}
		}, "ServiceRegistries must be empty or null."},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &ecs.CreateServiceInput{Cluster: &sd.Cluster, ServiceName: aws.String(fmt.Sprintf("ext-%d", i)), DesiredCount: aws.Int32(1),
				DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}}
			c.edit(in)
			_, err := b.ecs.CreateService(b.ctx, in)
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
	t.Run("what the service takes", func(t *testing.T) {
		out, err := b.ecs.CreateService(b.ctx, &ecs.CreateServiceInput{Cluster: &sd.Cluster, ServiceName: aws.String("ext-ok"), DesiredCount: aws.Int32(3),
			DeploymentController:          &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal},
			DeploymentConfiguration:       &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(100)},
			HealthCheckGracePeriodSeconds: aws.Int32(30), PropagateTags: ecstypes.PropagateTagsService, EnableECSManagedTags: true,
			SchedulingStrategy: ecstypes.SchedulingStrategyReplica})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Service
		if got.DesiredCount != 3 || aws.ToInt32(got.HealthCheckGracePeriodSeconds) != 30 || got.PropagateTags != ecstypes.PropagateTagsService ||
			aws.ToInt32(got.DeploymentConfiguration.MaximumPercent) != 200 || got.TaskDefinition != nil || got.LaunchType != "" {
			t.Fatalf("created service: %+v", got)
		}
	})
}

// TestUpdateExternalService: UpdateService changes the desired count and
// the like on an EXTERNAL service, and refuses what a new task set must
// change.
func TestUpdateExternalService(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "upd"})
	const tail = " on services with a EXTERNAL deployment controller. Create a new task set instead."
	cases := []struct {
		name    string
		edit    func(*ecs.UpdateServiceInput)
		message string
	}{
		{"task definition", func(in *ecs.UpdateServiceInput) { in.TaskDefinition = aws.String(sd.TaskDefinitionArn) },
			"Unable to update task definition" + tail},
		{"network configuration", func(in *ecs.UpdateServiceInput) {
			in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets}}
		}, "Unable to update network parameters" + tail},
		{"platform version", func(in *ecs.UpdateServiceInput) { in.PlatformVersion = aws.String("1.4.0") }, "Unable to update network parameters" + tail},
		{"force new deployment", func(in *ecs.UpdateServiceInput) { in.ForceNewDeployment = true }, "Unable to update network parameters" + tail},
		{"capacity provider strategy", func(in *ecs.UpdateServiceInput) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}
		}, "Unable to update capacity provider strategy" + tail},
		{"load balancers", func(in *ecs.UpdateServiceInput) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]),
				ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}}
		}, "Unable to update load balancers or service registries" + tail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &ecs.UpdateServiceInput{Cluster: &sd.Cluster, Service: &sd.Service, DesiredCount: aws.Int32(5)}
			c.edit(in)
			_, err := b.ecs.UpdateService(b.ctx, in)
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
	t.Run("desired count, deployment configuration, grace period", func(t *testing.T) {
		out, err := b.ecs.UpdateService(b.ctx, &ecs.UpdateServiceInput{Cluster: &sd.Cluster, Service: &sd.Service, DesiredCount: aws.Int32(4),
			DeploymentConfiguration:       &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50)},
			HealthCheckGracePeriodSeconds: aws.Int32(60)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Service; got.DesiredCount != 4 || aws.ToInt32(got.HealthCheckGracePeriodSeconds) != 60 ||
			aws.ToInt32(got.DeploymentConfiguration.MinimumHealthyPercent) != 50 {
			t.Fatalf("updated service: %+v", got)
		}
		if got := b.taskSet(t, sd, sd.PrimaryTaskSetArn); got.ComputedDesiredCount != 4 {
			t.Fatalf("primary task set computed desired %d, want 4", got.ComputedDesiredCount)
		}
	})
}

// TestServiceFromPrimaryTaskSet: a service shows its PRIMARY task set's
// task definition, launch type, network configuration and load balancer.
func TestServiceFromPrimaryTaskSet(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "prim"})
	out, err := b.ecs.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
	if err != nil {
		t.Fatal(err)
	}
	svc := out.Services[0]
	if aws.ToString(svc.TaskDefinition) != sd.TaskDefinitionArn || svc.LaunchType != ecstypes.LaunchTypeFargate ||
		svc.NetworkConfiguration == nil || len(svc.NetworkConfiguration.AwsvpcConfiguration.Subnets) != 2 ||
		len(svc.LoadBalancers) != 1 || aws.ToString(svc.LoadBalancers[0].TargetGroupArn) != sd.TargetGroupArns["blue"] {
		t.Fatalf("seeded service: task definition %s, launch type %s, network %+v, load balancers %+v",
			aws.ToString(svc.TaskDefinition), svc.LaunchType, svc.NetworkConfiguration, svc.LoadBalancers)
	}
}

// TestDescribeServicesCount: DescribeServices takes 1 to 10 services.
func TestDescribeServicesCount(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "cnt"})
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("svc-%d", i)
	}
	cases := []struct {
		name     string
		services []string
		message  string
	}{
		{"none", []string{}, "Services cannot be empty."},
		{"eleven", eleven, "service names can have at most 10 items."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.ecs.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: c.services})
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
}
