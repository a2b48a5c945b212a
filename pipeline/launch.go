package pipeline

import (
	"strings"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// launchType is the task set's launch type: none when a capacity provider
// strategy is set, FARGATE by default.
func (e *EnvConfig) launchType() ecstypes.LaunchType {
	if len(e.CapacityProviderStrategy) > 0 {
		return ""
	}
	if e.LaunchType == "" {
		return ecstypes.LaunchTypeFargate
	}
	return ecstypes.LaunchType(e.LaunchType)
}

// compatibility is what the task definition must declare in
// requiresCompatibilities for the task set to launch: FARGATE for the
// FARGATE launch type or a strategy of FARGATE and FARGATE_SPOT providers,
// EC2 for any other capacity provider.
func (e *EnvConfig) compatibility() ecstypes.Compatibility {
	if len(e.CapacityProviderStrategy) == 0 {
		return ecstypes.Compatibility(e.launchType())
	}
	for _, cp := range e.CapacityProviderStrategy {
		if !strings.HasPrefix(cp.CapacityProvider, "FARGATE") {
			return ecstypes.CompatibilityEc2
		}
	}
	return ecstypes.CompatibilityFargate
}
