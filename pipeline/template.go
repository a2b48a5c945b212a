package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// templateData is what templates see, under the original tool's names:
// .Environment, .Region, .Account, .Artifact.BuildNumber, .Artifact.Value,
// .Artifact.Tags, and once the task definition exists .TaskDefinition, as
// the original gave it (family:revision, the last part of the ARN), and
// .TaskDefinitionArn, the whole ARN.
func templateData(env, region, account string, a Artifact, taskDefinition string) map[string]any {
	tags := map[string]any{}
	for k, v := range a.Tags {
		tags[k] = v
	}
	data := map[string]any{
		"Environment": env,
		"Region":      region,
		"Account":     account,
		"Artifact":    map[string]any{"BuildNumber": a.BuildNumber, "Value": a.Value, "Tags": tags},
	}
	if taskDefinition != "" {
		data["TaskDefinition"] = taskDefinition[strings.LastIndex(taskDefinition, "/")+1:]
		data["TaskDefinitionArn"] = taskDefinition
	}
	return data
}

// render executes one template string. A key the data lacks is an error,
// and so are loops, nested templates and a result over maxRendered bytes
// (checkTree): a config cannot make rendering run without end.
func render(s string, data map[string]any) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("t").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", err
	}
	if err := checkTree(t); err != nil {
		return "", err
	}
	var b limitedBuffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return string(b.b), nil
}

// checkTemplate parses s and renders it with sample data, so a config with
// a bad template fails when it loads. Tags depend on the artifact, so a
// missing tag is not an error here; withTaskDef says .TaskDefinition exists.
func checkTemplate(s string, withTaskDef bool) error {
	td := ""
	if withTaskDef {
		td = "arn:aws:ecs:us-east-1:123456789012:task-definition/sample:1"
	}
	_, err := render(s, templateData("env", "us-east-1", "123456789012", Artifact{BuildNumber: 1, Value: "image:tag"}, td))
	if err != nil && strings.Contains(err.Error(), "<.Artifact.Tags.") {
		return nil
	}
	return err
}

// renderContainers renders each string of the container definition
// templates on its own, then decodes the result as ECS container
// definitions: no value is ever pasted into JSON text, so quotes survive.
func renderContainers(templates []json.RawMessage, data map[string]any) ([]ecstypes.ContainerDefinition, error) {
	out := make([]ecstypes.ContainerDefinition, 0, len(templates))
	for i, raw := range templates {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var tree any
		if err := dec.Decode(&tree); err != nil {
			return nil, fmt.Errorf("container %d: %w", i, err)
		}
		rendered, err := renderTree(tree, data, fmt.Sprintf("ContainerDefinitionTemplates[%d]", i))
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(rendered)
		if err != nil {
			return nil, err
		}
		var cd ecstypes.ContainerDefinition
		if err := json.Unmarshal(b, &cd); err != nil {
			return nil, fmt.Errorf("container %d is not a valid ECS container definition: %w", i, err)
		}
		out = append(out, cd)
	}
	return out, nil
}

func renderTree(v any, data map[string]any, path string) (any, error) {
	switch v := v.(type) {
	case string:
		s, err := render(v, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return s, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := renderTree(e, data, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renderTree(e, data, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// Command is a rendered command: a program and its arguments.
type Command struct {
	Program string
	Args    []string
}

func renderCommand(ct CommandTemplate, data map[string]any) (Command, error) {
	prog, err := render(ct.Program, data)
	if err != nil {
		return Command{}, fmt.Errorf("program %q: %w", ct.Program, err)
	}
	cmd := Command{Program: prog}
	for i, a := range ct.Arguments {
		r, err := render(a, data)
		if err != nil {
			return Command{}, fmt.Errorf("%s argument %d: %w", prog, i, err)
		}
		cmd.Args = append(cmd.Args, r)
	}
	return cmd, nil
}
