package awsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

type registerTaskDefinitionInput struct {
	Family                  string            `json:"family"`
	ContainerDefinitions    []json.RawMessage `json:"containerDefinitions"`
	Cpu                     *string           `json:"cpu"`
	Memory                  *string           `json:"memory"`
	NetworkMode             string            `json:"networkMode"`
	RequiresCompatibilities []string          `json:"requiresCompatibilities"`
	TaskRoleArn             string            `json:"taskRoleArn"`
	ExecutionRoleArn        string            `json:"executionRoleArn"`
	Tags                    []ecsTag          `json:"tags"`
}

func (s *Server) registerTaskDefinition(in registerTaskDefinitionInput) (*taskDefinition, error) {
	if !validName(in.Family) {
		return nil, clientErr("Family %q is invalid: up to 255 letters, numbers, hyphens and underscores.", in.Family)
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, clientErr("Container list cannot be empty.")
	}
	var specs []containerSpec
	names := map[string]bool{}
	for i, raw := range in.ContainerDefinitions {
		var c containerSpec
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, clientErr("containerDefinitions[%d]: %v", i, err)
		}
		switch {
		case c.Name == "":
			return nil, clientErr("Container.name should not be null or empty.")
		case c.Image == "":
			return nil, clientErr("Container.image should not be null or empty.")
		case names[c.Name]:
			return nil, clientErr("Duplicate container name %q.", c.Name)
		}
		names[c.Name] = true
		specs = append(specs, c)
	}
	if in.NetworkMode == "" {
		in.NetworkMode = "bridge"
	}
	cpu, memory, err := taskSize(in.Cpu, in.Memory)
	if err != nil {
		return nil, err
	}
	if slices.Contains(in.RequiresCompatibilities, "FARGATE") {
		if err := checkFargate(cpu, memory, in.NetworkMode); err != nil {
			return nil, err
		}
	}
	if memory == "" {
		for _, c := range specs {
			if c.Memory == nil && c.MemoryReservation == nil {
				return nil, clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
			}
		}
	}
	rev := len(s.taskDefs[in.Family]) + 1
	td := &taskDefinition{
		TaskDefinitionArn:       s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", in.Family, rev)),
		Family:                  in.Family,
		Revision:                rev,
		ContainerDefinitions:    in.ContainerDefinitions,
		Cpu:                     cpu,
		Memory:                  memory,
		NetworkMode:             in.NetworkMode,
		RequiresCompatibilities: in.RequiresCompatibilities,
		Compatibilities:         compatibilities(in.RequiresCompatibilities),
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		Status:                  "ACTIVE",
		RegisteredAt:            epoch(s.now),
		containers:              specs,
		tags:                    in.Tags,
	}
	s.taskDefs[in.Family] = append(s.taskDefs[in.Family], td)
	return td, nil
}

// compatibilities are the launch types a task definition was validated
// for: EC2 always, and those it requires, which were checked.
func compatibilities(required []string) []string {
	out := []string{"EC2"}
	for _, lt := range []string{"EXTERNAL", "FARGATE"} {
		if slices.Contains(required, lt) {
			out = append(out, lt)
		}
	}
	return out
}

// taskSize converts the task-level cpu ("1024", "1 vCPU") and memory
// ("2048", "2 GB") to CPU units and MiB, as RegisterTaskDefinition stores
// them; "" means not given.
func taskSize(cpu, memory *string) (string, string, error) {
	var outCPU, outMem string
	if cpu != nil {
		n, ok := parseSize(*cpu, "vcpu")
		if !ok {
			return "", "", invalidParam("Invalid 'cpu' setting for task.")
		}
		outCPU = strconv.Itoa(n)
	}
	if memory != nil {
		n, ok := parseSize(*memory, "gb")
		if !ok {
			return "", "", invalidParam("Invalid 'memory' setting for task.")
		}
		outMem = strconv.Itoa(n)
	}
	return outCPU, outMem, nil
}

// parseSize reads a positive whole number, or a number followed by unit
// (any case, space optional), which counts 1024 each.
func parseSize(v, unit string) (int, bool) {
	v = strings.TrimSpace(strings.ToLower(v))
	if n, err := strconv.Atoi(v); err == nil {
		return n, n > 0
	}
	num, found := strings.CutSuffix(v, unit)
	if !found {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	n := int(f * 1024)
	if err != nil || n <= 0 || float64(n) != f*1024 {
		return 0, false
	}
	return n, true
}

// fargateMemory lists, for each Fargate task CPU size, the smallest and
// largest memory in MiB and the step between them.
var fargateMemory = map[int][3]int{
	256:   {512, 2048, 512},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// checkFargate refuses a task definition that requires FARGATE without
// task-level cpu and memory, with another network mode than awsvpc, or
// with a cpu and memory pair Fargate does not offer.
func checkFargate(cpu, memory, networkMode string) error {
	switch {
	case cpu == "":
		return clientErr("Fargate requires that 'cpu' be defined at the task level.")
	case memory == "":
		return clientErr("Fargate requires that 'memory' be defined at the task level.")
	case networkMode != "awsvpc":
		return clientErr("Fargate only supports network mode ‘awsvpc’.")
	}
	c, _ := strconv.Atoi(cpu)
	m, _ := strconv.Atoi(memory)
	r, ok := fargateMemory[c]
	if !ok || m < r[0] || m > r[1] || (m-r[0])%r[2] != 0 || (c == 256 && m == 1536) {
		return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", cpu, memory)
	}
	return nil
}

// findTaskDefinition resolves "family", "family:revision" or an ARN. A bare
// family means its latest ACTIVE revision.
func (s *Server) findTaskDefinition(ref string) (*taskDefinition, error) {
	notFound := clientErr("Unable to describe task definition.")
	if strings.HasPrefix(ref, "arn:") {
		ref = lastPart(ref)
	}
	family, revStr, hasRev := strings.Cut(ref, ":")
	revs := s.taskDefs[family]
	if !hasRev {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].Status == "ACTIVE" {
				return revs[i], nil
			}
		}
		return nil, notFound
	}
	rev, err := strconv.Atoi(revStr)
	if err != nil || rev < 1 || rev > len(revs) {
		return nil, notFound
	}
	return revs[rev-1], nil
}

func (s *Server) ecsRegisterTaskDefinition(body []byte) (any, error) {
	var in registerTaskDefinitionInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	td, err := s.registerTaskDefinition(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": td, "tags": nonNilTags(in.Tags)}, nil
}

func (s *Server) ecsDescribeTaskDefinition(body []byte) (any, error) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	td, err := s.findTaskDefinition(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskDefinition": td}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = nonNilTags(td.tags)
	}
	return out, nil
}

func (s *Server) ecsDeregisterTaskDefinition(body []byte) (any, error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !strings.Contains(lastPart(in.TaskDefinition), ":") {
		return nil, clientErr("The specified task definition does not exist: a revision is required.")
	}
	td, err := s.findTaskDefinition(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if td.Status == "ACTIVE" {
		td.Status = "INACTIVE"
		td.DeregisteredAt = epochPtr(s.now)
	}
	return map[string]any{"taskDefinition": td}, nil
}

func nonNilTags(t []ecsTag) []ecsTag {
	if t == nil {
		return []ecsTag{}
	}
	return t
}
