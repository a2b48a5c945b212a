package awsim

import (
	"encoding/json"
	"time"
)

type cluster struct {
	ClusterArn                      string                 `json:"clusterArn"`
	ClusterName                     string                 `json:"clusterName"`
	Status                          string                 `json:"status"`
	RunningTasksCount               int                    `json:"runningTasksCount"`
	PendingTasksCount               int                    `json:"pendingTasksCount"`
	ActiveServicesCount             int                    `json:"activeServicesCount"`
	CapacityProviders               []string               `json:"capacityProviders"`
	DefaultCapacityProviderStrategy []capacityProviderItem `json:"defaultCapacityProviderStrategy"`
	Tags                            []ecsTag               `json:"tags,omitempty"`
}

// capacityProviderItem is one entry of a capacity provider strategy.
type capacityProviderItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight"`
	Base             int    `json:"base"`
}

type taskDefinition struct {
	TaskDefinitionArn       string            `json:"taskDefinitionArn"`
	Family                  string            `json:"family"`
	Revision                int               `json:"revision"`
	ContainerDefinitions    []json.RawMessage `json:"containerDefinitions"`
	Cpu                     string            `json:"cpu,omitempty"`
	Memory                  string            `json:"memory,omitempty"`
	NetworkMode             string            `json:"networkMode,omitempty"`
	RequiresCompatibilities []string          `json:"requiresCompatibilities,omitempty"`
	Compatibilities         []string          `json:"compatibilities"`
	TaskRoleArn             string            `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn        string            `json:"executionRoleArn,omitempty"`
	Status                  string            `json:"status"`
	RegisteredAt            epoch             `json:"registeredAt"`
	DeregisteredAt          *epoch            `json:"deregisteredAt,omitempty"`

	containers []containerSpec
	tags       []ecsTag
}

// containerSpec is what the emulator reads of a container definition.
type containerSpec struct {
	Name              string `json:"name"`
	Image             string `json:"image"`
	Essential         *bool  `json:"essential"`
	Memory            *int   `json:"memory"`
	MemoryReservation *int   `json:"memoryReservation"`
	PortMappings      []struct {
		ContainerPort int `json:"containerPort"`
	} `json:"portMappings"`
}

type deploymentController struct {
	Type string `json:"type"`
}

// service is an ECS service. Its task definition, launch type, capacity
// provider strategy, platform version, network configuration and load
// balancers are those of its PRIMARY task set, and absent while it has
// none.
type service struct {
	ServiceArn               string                 `json:"serviceArn"`
	ServiceName              string                 `json:"serviceName"`
	ClusterArn               string                 `json:"clusterArn"`
	Status                   string                 `json:"status"`
	DesiredCount             int                    `json:"desiredCount"`
	RunningCount             int                    `json:"runningCount"`
	PendingCount             int                    `json:"pendingCount"`
	LaunchType               string                 `json:"launchType,omitempty"`
	CapacityProviderStrategy []capacityProviderItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                 `json:"platformVersion,omitempty"`
	TaskDefinition           string                 `json:"taskDefinition,omitempty"`
	LoadBalancers            []taskSetLoadBalancer  `json:"loadBalancers"`
	DeploymentController     deploymentController   `json:"deploymentController"`
	DeploymentConfiguration  json.RawMessage        `json:"deploymentConfiguration,omitempty"`
	PlacementConstraints     json.RawMessage        `json:"placementConstraints,omitempty"`
	PlacementStrategy        json.RawMessage        `json:"placementStrategy,omitempty"`
	// HealthCheckGracePeriodSeconds is how long after a task starts the
	// scheduler ignores its failing load balancer health checks.
	HealthCheckGracePeriodSeconds *int            `json:"healthCheckGracePeriodSeconds,omitempty"`
	PropagateTags                 string          `json:"propagateTags,omitempty"`
	EnableECSManagedTags          bool            `json:"enableECSManagedTags"`
	SchedulingStrategy            string          `json:"schedulingStrategy"`
	NetworkConfiguration          json.RawMessage `json:"networkConfiguration,omitempty"`
	CreatedAt                     epoch           `json:"createdAt"`
	TaskSets                      []*taskSet      `json:"taskSets"`
	Tags                          []ecsTag        `json:"tags,omitempty"`

	cluster *cluster
}

type scale struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

type taskSetLoadBalancer struct {
	TargetGroupArn string `json:"targetGroupArn,omitempty"`
	ContainerName  string `json:"containerName,omitempty"`
	ContainerPort  int    `json:"containerPort,omitempty"`
}

type taskSet struct {
	ID                       string                 `json:"id"`
	TaskSetArn               string                 `json:"taskSetArn"`
	ServiceArn               string                 `json:"serviceArn"`
	ClusterArn               string                 `json:"clusterArn"`
	StartedBy                string                 `json:"startedBy,omitempty"`
	ExternalID               string                 `json:"externalId,omitempty"`
	Status                   string                 `json:"status"`
	TaskDefinition           string                 `json:"taskDefinition"`
	ComputedDesiredCount     int                    `json:"computedDesiredCount"`
	PendingCount             int                    `json:"pendingCount"`
	RunningCount             int                    `json:"runningCount"`
	CreatedAt                epoch                  `json:"createdAt"`
	UpdatedAt                epoch                  `json:"updatedAt"`
	LaunchType               string                 `json:"launchType,omitempty"`
	CapacityProviderStrategy []capacityProviderItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                 `json:"platformVersion,omitempty"`
	NetworkConfiguration     json.RawMessage        `json:"networkConfiguration,omitempty"`
	LoadBalancers            []taskSetLoadBalancer  `json:"loadBalancers"`
	Scale                    scale                  `json:"scale"`
	StabilityStatus          string                 `json:"stabilityStatus"`
	StabilityStatusAt        epoch                  `json:"stabilityStatusAt"`
	Tags                     []ecsTag               `json:"tags,omitempty"`

	service     *service
	taskDef     *taskDefinition
	clientToken string
	fault       TaskSetFault
	tasks       []*task
	// launched counts the tasks started, to share them out between the
	// capacity providers of the strategy.
	launched int
	// nextLaunch holds back replacements of tasks that stopped on their own.
	nextLaunch time.Time
	// interrupted counts the tasks a spot-interruption fault stopped.
	interrupted int
}

type networkInterface struct {
	AttachmentID       string `json:"attachmentId,omitempty"`
	PrivateIpv4Address string `json:"privateIpv4Address"`
}

type container struct {
	ContainerArn      string             `json:"containerArn"`
	TaskArn           string             `json:"taskArn"`
	Name              string             `json:"name"`
	Image             string             `json:"image,omitempty"`
	LastStatus        string             `json:"lastStatus"`
	ExitCode          *int               `json:"exitCode,omitempty"`
	Reason            string             `json:"reason,omitempty"`
	NetworkInterfaces []networkInterface `json:"networkInterfaces,omitempty"`
}

type attachmentDetail struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type attachment struct {
	ID      string             `json:"id"`
	Type    string             `json:"type"`
	Status  string             `json:"status"`
	Details []attachmentDetail `json:"details"`
}

type task struct {
	TaskArn           string       `json:"taskArn"`
	ClusterArn        string       `json:"clusterArn"`
	TaskDefinitionArn string       `json:"taskDefinitionArn"`
	LastStatus        string       `json:"lastStatus"`
	DesiredStatus     string       `json:"desiredStatus"`
	StartedBy         string       `json:"startedBy,omitempty"`
	Group             string       `json:"group,omitempty"`
	LaunchType        string       `json:"launchType,omitempty"`
	CapacityProvider  string       `json:"capacityProviderName,omitempty"`
	Cpu               string       `json:"cpu,omitempty"`
	Memory            string       `json:"memory,omitempty"`
	HealthStatus      string       `json:"healthStatus"`
	CreatedAt         epoch        `json:"createdAt"`
	StartedAt         *epoch       `json:"startedAt,omitempty"`
	StoppingAt        *epoch       `json:"stoppingAt,omitempty"`
	StoppedAt         *epoch       `json:"stoppedAt,omitempty"`
	StoppedReason     string       `json:"stoppedReason,omitempty"`
	StopCode          string       `json:"stopCode,omitempty"`
	Containers        []container  `json:"containers"`
	Attachments       []attachment `json:"attachments,omitempty"`
	Tags              []ecsTag     `json:"tags,omitempty"`

	taskSet *taskSet
	ip      string
	// targets are the target groups this task registered in once RUNNING.
	targets []*targetGroup
}
