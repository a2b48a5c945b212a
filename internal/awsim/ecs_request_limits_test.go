package awsim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
)

// TestECSRequestLimits: requests that break the ECS API reference's limits
// on tags, client tokens, awsvpc configurations and task definition size
// are refused before anything is looked up, with AWS's error.
func TestECSRequestLimits(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "limits"})
	td := b.registerTaskDef(t, sd, "limits:v2")

	// createTaskSet calls CreateTaskSet as the pipeline does, changed by edit.
	createTaskSet := func(edit func(*ecs.CreateTaskSetInput)) func(context.Context) error {
		return func(ctx context.Context) error {
			in := &ecs.CreateTaskSetInput{
				Cluster: &sd.Cluster, Service: &sd.Service, TaskDefinition: &td,
				ExternalId: aws.String("d-1"), ClientToken: aws.String("d-1"),
				LaunchType: ecstypes.LaunchTypeFargate,
				NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
					Subnets: sd.Subnets, SecurityGroups: sd.SecurityGroups, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
				LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]),
					ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}},
				Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 100},
				Tags:  []ecstypes.Tag{{Key: aws.String("ecs-deploy:deploy-id"), Value: aws.String("d-1")}},
			}
			edit(in)
			_, err := b.ecs.CreateTaskSet(ctx, in)
			return err
		}
	}
	register := func(edit func(*ecs.RegisterTaskDefinitionInput)) func(context.Context) error {
		return func(ctx context.Context) error {
			in := &ecs.RegisterTaskDefinitionInput{
				Family: aws.String(sd.Name), NetworkMode: ecstypes.NetworkModeAwsvpc,
				RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
				Cpu:                     aws.String("256"), Memory: aws.String("512"),
				ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(sd.ContainerName), Image: aws.String("limits:v3"),
					PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(sd.ContainerPort))}}}},
			}
			edit(in)
			_, err := b.ecs.RegisterTaskDefinition(ctx, in)
			return err
		}
	}
	tags := func(n int) []ecstypes.Tag {
		var out []ecstypes.Tag
		for i := range n {
			out = append(out, ecstypes.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")})
		}
		return out
	}
	subnets := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, "subnet-"+strings.Repeat("a", i+1))
		}
		return out
	}

	cases := []struct {
		name    string
		call    func(context.Context) error
		code    string
		message string // "" means the call succeeds
		suffix  string // the message's end, when its middle varies
	}{
		{"CreateTaskSet as the pipeline sends it", createTaskSet(func(*ecs.CreateTaskSetInput) {}), "", "", ""},
		{"CreateTaskSet with empty subnets", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.Subnets = []string{}
		}), "InvalidParameterException", "subnets can not be empty.", ""},
		{"CreateTaskSet with 17 subnets", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.Subnets = subnets(17)
		}), "InvalidParameterException", "17 subnets were given; at most 16 can be specified per awsvpcConfiguration.", ""},
		{"CreateTaskSet with 16 subnets", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.Subnets = subnets(16)
			in.ClientToken = aws.String("d-16")
		}), "", "", ""},
		{"CreateTaskSet with 6 security groups", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups = []string{"sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"}
		}), "InvalidParameterException", "6 security groups were given; at most 5 can be specified per awsvpcConfiguration.", ""},
		{"CreateTaskSet with an unknown assignPublicIp", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp = "YES"
		}), "InvalidParameterException", `assignPublicIp "YES" is not ENABLED or DISABLED.`, ""},
		{"CreateTaskSet with a 37-character client token", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.ClientToken = aws.String(strings.Repeat("c", 37))
		}), "InvalidParameterException", `clientToken "` + strings.Repeat("c", 37) + `" is invalid: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.`, ""},
		{"CreateTaskSet with a space in the client token", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.ClientToken = aws.String("d 1")
		}), "InvalidParameterException", `clientToken "d 1" is invalid: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.`, ""},
		{"CreateTaskSet with an aws: tag", createTaskSet(func(in *ecs.CreateTaskSetInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("AWS:deploy"), Value: aws.String("x")}}
		}), "InvalidParameterException", "Tag key must not start with aws:", ""},
		{"CreateTaskSet with 51 tags", createTaskSet(func(in *ecs.CreateTaskSetInput) { in.Tags = tags(51) }),
			"InvalidParameterException", "The request has 51 tags; a resource can have at most 50.", ""},
		{"RegisterTaskDefinition with 50 tags", register(func(in *ecs.RegisterTaskDefinitionInput) { in.Tags = tags(50) }), "", "", ""},
		{"RegisterTaskDefinition with an empty tag key", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String(""), Value: aws.String("x")}}
		}), "InvalidParameterException", "Tag keys must not be empty.", ""},
		{"RegisterTaskDefinition with a 129-character tag key", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("x")}}
		}), "InvalidParameterException", `Tag key "` + strings.Repeat("k", 129) + `" is longer than 128 characters.`, ""},
		{"RegisterTaskDefinition with a 257-character tag value", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("é", 257))}}
		}), "InvalidParameterException", `The value of tag "k" is longer than 256 characters.`, ""},
		{"RegisterTaskDefinition with a tag value of 256 two-byte characters", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("é", 256))}}
		}), "", "", ""},
		{"RegisterTaskDefinition with a tag holding a comma", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("a,b")}}
		}), "InvalidParameterException", `Tag "team": keys and values may contain only letters, numbers, spaces and + - = . _ : / @.`, ""},
		{"RegisterTaskDefinition larger than 64 KiB", register(func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].Environment = []ecstypes.KeyValuePair{{Name: aws.String("BIG"), Value: aws.String(strings.Repeat("x", 65536))}}
		}), "ClientException", "Actual length: '", "'. Max allowed length is '65536' bytes."},
		{"TagResource with an aws: tag", func(ctx context.Context) error {
			_, err := b.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: &sd.ServiceArn,
				Tags: []ecstypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		}, "InvalidParameterException", "Tag key must not start with aws:", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(b.ctx)
			if c.message == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != c.code || !strings.HasPrefix(ae.ErrorMessage(), c.message) ||
				!strings.HasSuffix(ae.ErrorMessage(), c.suffix) || (c.suffix == "" && ae.ErrorMessage() != c.message) {
				t.Fatalf("err = %v, want %s: %s…%s", err, c.code, c.message, c.suffix)
			}
		})
	}
	// The refused calls created nothing: only the seeded task set and the
	// two accepted ones exist.
	if n := len(b.sim.TaskSets(sd.Cluster, sd.Service)); n != 3 {
		t.Fatalf("%d task sets after the refused calls, want 3", n)
	}
}
