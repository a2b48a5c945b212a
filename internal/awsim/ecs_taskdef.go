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
	Cpu                     string            `json:"cpu"`
	Memory                  string            `json:"memory"`
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
	for _, c := range in.RequiresCompatibilities {
		if c == "FARGATE" && in.NetworkMode != "awsvpc" {
			return nil, clientErr("Fargate only supports network mode 'awsvpc'.")
		}
	}
	rev := len(s.taskDefs[in.Family]) + 1
	td := &taskDefinition{
		TaskDefinitionArn:       s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", in.Family, rev)),
		Family:                  in.Family,
		Revision:                rev,
		ContainerDefinitions:    in.ContainerDefinitions,
		Cpu:                     in.Cpu,
		Memory:                  in.Memory,
		NetworkMode:             in.NetworkMode,
		RequiresCompatibilities: in.RequiresCompatibilities,
		Compatibilities:         []string{"EC2", "FARGATE"},
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
