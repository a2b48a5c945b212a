package pipeline

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// ECSAPI is what the pipeline calls of ECS.
type ECSAPI interface {
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskSets(ctx context.Context, in *ecs.DescribeTaskSetsInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskSetsOutput, error)
	CreateTaskSet(ctx context.Context, in *ecs.CreateTaskSetInput, opts ...func(*ecs.Options)) (*ecs.CreateTaskSetOutput, error)
	UpdateTaskSet(ctx context.Context, in *ecs.UpdateTaskSetInput, opts ...func(*ecs.Options)) (*ecs.UpdateTaskSetOutput, error)
	DeleteTaskSet(ctx context.Context, in *ecs.DeleteTaskSetInput, opts ...func(*ecs.Options)) (*ecs.DeleteTaskSetOutput, error)
	UpdateServicePrimaryTaskSet(ctx context.Context, in *ecs.UpdateServicePrimaryTaskSetInput, opts ...func(*ecs.Options)) (*ecs.UpdateServicePrimaryTaskSetOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// ELBAPI is what the pipeline calls of Elastic Load Balancing v2.
type ELBAPI interface {
	DescribeRules(ctx context.Context, in *elb.DescribeRulesInput, opts ...func(*elb.Options)) (*elb.DescribeRulesOutput, error)
	SetRulePriorities(ctx context.Context, in *elb.SetRulePrioritiesInput, opts ...func(*elb.Options)) (*elb.SetRulePrioritiesOutput, error)
	DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, opts ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
}

// CloudWatchAPI is what the pipeline calls of CloudWatch.
type CloudWatchAPI interface {
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

var (
	_ ECSAPI        = (*ecs.Client)(nil)
	_ ELBAPI        = (*elb.Client)(nil)
	_ CloudWatchAPI = (*cloudwatch.Client)(nil)
)

// Clients are the AWS clients for one environment's account and region,
// and the environment variables that give a command the same credentials.
type Clients struct {
	ECS        ECSAPI
	ELB        ELBAPI
	CloudWatch CloudWatchAPI
	// CommandEnv returns AWS_ACCESS_KEY_ID and the like for commands run on
	// behalf of this environment. Nil: commands get no AWS credentials.
	CommandEnv func(ctx context.Context) ([]string, error)
}

// ClientsFunc returns the clients for an environment.
type ClientsFunc func(ctx context.Context, account, region string) (Clients, error)
