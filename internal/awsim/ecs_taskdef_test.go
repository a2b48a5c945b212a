package awsim_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
)

// TestRegisterTaskDefinitionRules: a task definition that requires
// Fargate has a task size Fargate offers and the awsvpc network mode; any
// task definition has memory at the task or container level.
func TestRegisterTaskDefinitionRules(t *testing.T) {
	b := newBed(t, awsim.Config{})
	fargate := func(edit func(*ecs.RegisterTaskDefinitionInput)) *ecs.RegisterTaskDefinitionInput {
		in := &ecs.RegisterTaskDefinitionInput{Family: aws.String("td"), NetworkMode: ecstypes.NetworkModeAwsvpc,
			RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
			Cpu:                     aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("app:1")}}}
		edit(in)
		return in
	}
	refused := []struct {
		name    string
		in      *ecs.RegisterTaskDefinitionInput
		code    string
		message string
	}{
		{"Fargate without cpu", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = nil }),
			"ClientException", "Fargate requires that 'cpu' be defined at the task level."},
		{"Fargate without memory", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = nil }),
			"ClientException", "Fargate requires that 'memory' be defined at the task level."},
		{"Fargate on bridge", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = ecstypes.NetworkModeBridge }),
			"ClientException", "Fargate only supports network mode \u2018awsvpc\u2019."},
		{"Fargate with the default network mode", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = "" }),
			"ClientException", "Fargate only supports network mode \u2018awsvpc\u2019."},
		{"Fargate 256 CPU with 4 GB", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("4 GB") }),
			"ClientException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."},
		{"Fargate 512 CPU with 512 MiB", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("512") }),
			"ClientException", "No Fargate configuration exists for given values: 512 CPU, 512 memory. See the Amazon ECS documentation for the valid values."},
		{"empty cpu", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("") }),
			"InvalidParameterException", "Invalid 'cpu' setting for task."},
		{"EC2 without any memory", &ecs.RegisterTaskDefinitionInput{Family: aws.String("td"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("web:1")}}},
			"ClientException", "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.ecs.RegisterTaskDefinition(b.ctx, c.in)
			wantAPIError(t, err, c.code, c.message)
		})
	}
	accepted := []struct {
		name               string
		in                 *ecs.RegisterTaskDefinitionInput
		cpu, memory        string
		compatibilityCount int
	}{
		{"Fargate in vCPU and GB", fargate(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu, in.Memory = aws.String("1 vCPU"), aws.String("3GB") }),
			"1024", "3072", 2},
		{"Fargate 16 vCPU", fargate(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Cpu, in.Memory = aws.String("16384"), aws.String("122880")
		}),
			"16384", "122880", 2},
		{"EC2 with container memory", &ecs.RegisterTaskDefinitionInput{Family: aws.String("td"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("web:1"), MemoryReservation: aws.Int32(128)}}},
			"", "", 1},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			out, err := b.ecs.RegisterTaskDefinition(b.ctx, c.in)
			if err != nil {
				t.Fatal(err)
			}
			td := out.TaskDefinition
			if aws.ToString(td.Cpu) != c.cpu || aws.ToString(td.Memory) != c.memory || len(td.Compatibilities) != c.compatibilityCount {
				t.Fatalf("registered cpu %q memory %q compatibilities %v, want %q %q and %d", aws.ToString(td.Cpu), aws.ToString(td.Memory),
					td.Compatibilities, c.cpu, c.memory, c.compatibilityCount)
			}
		})
	}
}
