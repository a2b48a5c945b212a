package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestOriginalConfigLoads loads a config in the original tool's form,
// mixed-case container keys and an unknown field included, and renders it.
func TestOriginalConfigLoads(t *testing.T) {
	cfg, err := LoadConfigFile("testdata/original-config.json")
	if err != nil {
		t.Fatal(err)
	}
	app, env, err := cfg.Target("vpc-conf", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if env.RequiresPreviousEnvDeploy != "dev" || env.TargetGroupARNs["green"] == "" || cfg.region(env) != "us-west-2" {
		t.Fatalf("prod env: %+v", env)
	}
	if env.rolloutTimeout() != 15*time.Minute || env.BakeTime != 0 || env.LaunchType != "" || env.AssignPublicIP {
		t.Fatalf("new fields did not default: %+v", env)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], `Environments["prod"].Notes`) {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
	data := templateData("prod", "us-west-2", "777788889999", Artifact{BuildNumber: 41, Value: "repo/vpc-conf:41", Tags: map[string]string{"SHA": "abc123"}}, "")
	containers, err := renderContainers(app.ContainerDefinitionTemplates, data)
	if err != nil {
		t.Fatal(err)
	}
	c := containers[0]
	if aws.ToString(c.Image) != "repo/vpc-conf:41" || *c.PortMappings[0].ContainerPort != 2020 || aws.ToString(c.Environment[2].Value) != "abc123" ||
		c.LogConfiguration.Options["awslogs-group"] != "/ecs/vpc-conf-prod" || aws.ToString(c.Secrets[0].ValueFrom) != "arn:aws:secretsmanager:us-west-2:777788889999:secret:vpc-conf-prod" {
		t.Fatalf("rendered container: %+v", c)
	}
	if aws.ToString(containers[1].Name) != "sidecar" || aws.ToBool(containers[1].Essential) {
		t.Fatalf("lower-case keys: %+v", containers[1])
	}
	// The original handed post-deploy commands family:revision, and
	// configs written for it rely on that; the ARN has a name of its own.
	const td = "arn:aws:ecs:us-west-2:777788889999:task-definition/vpc-conf-prod:7"
	cmd, err := renderCommand(app.PostDeployCommandTemplates[0], templateData("prod", "us-west-2", "1", Artifact{}, td))
	if err != nil || cmd.Program != "notify-deploy" || cmd.Args[0] != "vpc-conf-prod:7" {
		t.Fatalf("post command: %+v %v", cmd, err)
	}
	arn, err := render("{{.TaskDefinitionArn}}", templateData("prod", "us-west-2", "1", Artifact{}, td))
	if err != nil || arn != td {
		t.Fatalf("{{.TaskDefinitionArn}} = %q, %v", arn, err)
	}
	if _, _, err := cfg.Target("vpc-conf", "staging"); err == nil || !strings.Contains(err.Error(), "dev, prod") {
		t.Fatalf("unknown env: %v", err)
	}
	if _, _, err := cfg.Target("nope", "dev"); err == nil || !strings.Contains(err.Error(), "vpc-conf") {
		t.Fatalf("unknown app: %v", err)
	}
}

// TestBadConfigReportsEveryProblem checks that one load lists every
// problem, each at its JSON path.
func TestBadConfigReportsEveryProblem(t *testing.T) {
	bad := `{
	  "ConfigAccountID": "12",
	  "Apps": {
	    "web": {
	      "ContainerDefinitionTemplates": [
	        {"Name": "web", "Image": "{{.Artifact.Valu}", "PortMappings": [{"ContainerPort": 80}, {"ContainerPort": 81}]},
	        {"Name": "", "Image": "x"}
	      ],
	      "PreDeployCommandTemplates": [{"Program": "", "Arguments": ["{{.TaskDefinition}}"]}],
	      "Environments": {
	        "dev": {
	          "Cluster": "c", "Family": "f",
	          "ListenerARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/oops/1",
	          "TargetGroupARNs": {"blue": "not-an-arn", "purple": "x"},
	          "RequiresPreviousEnvDeploy": "qa",
	          "TaskRoleARN": "role/x",
	          "BakeTime": "forever"
	        }
	      }
	    },
	    "api": {
	      "ArtifactDBProjectName": "api",
	      "ContainerDefinitionTemplates": [],
	      "Environments": {}
	    }
	  }
	}`
	_, err := LoadConfig(strings.NewReader(bad))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	// BakeTime "forever" stops decoding before validation: that alone.
	if len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0].Message, "forever") {
		t.Fatalf("problems: %v", err)
	}
	_, err = LoadConfig(strings.NewReader(strings.Replace(bad, `"forever"`, `"90s"`, 1)))
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`$.ConfigAccountID`,
		`$.Apps["api"].ContainerDefinitionTemplates: has no container`,
		`$.Apps["api"].Environments: no environments`,
		`$.Apps["web"].ArtifactDBProjectName: is required`,
		`$.Apps["web"].ContainerDefinitionTemplates[0].Image`,
		`$.Apps["web"].ContainerDefinitionTemplates[0].PortMappings: the first container must have exactly one port mapping`,
		`$.Apps["web"].ContainerDefinitionTemplates[1].Name: is required`,
		`$.Apps["web"].PreDeployCommandTemplates[0].Program: is required`,
		`$.Apps["web"].PreDeployCommandTemplates[0].Arguments[0]`,
		`$.Apps["web"].Environments["dev"].Region: is required`,
		`$.Apps["web"].Environments["dev"].ListenerARN`,
		`$.Apps["web"].Environments["dev"].TargetGroupARNs.blue`,
		`$.Apps["web"].Environments["dev"].TargetGroupARNs.green: is missing`,
		`$.Apps["web"].Environments["dev"].TargetGroupARNs.purple: unknown colour`,
		`$.Apps["web"].Environments["dev"].RequiresPreviousEnvDeploy`,
		`$.Apps["web"].Environments["dev"].TaskRoleARN`,
		`$.Apps["web"].Environments["dev"].Subnets: has 0 subnets`,
		`$.Apps["web"].Environments["dev"].CPU: is required: tasks on Fargate`,
		`$.Apps["web"].Environments["dev"].Memory: is required: tasks on Fargate`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q in:\n%s", w, msg)
		}
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ce.Problems), len(want), msg)
	}
}

func TestLoadConfigSyntaxError(t *testing.T) {
	_, err := LoadConfig(strings.NewReader("{\n  \"Apps\": {\n    \"x\": ,\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want the line", err)
	}
}

func TestRenderMissingKey(t *testing.T) {
	if _, err := render("{{.Nope}}", templateData("e", "r", "a", Artifact{}, "")); err == nil {
		t.Fatal("missing key rendered")
	}
	if _, err := render("{{.Artifact.Tags.SHA}}", templateData("e", "r", "a", Artifact{}, "")); err == nil {
		t.Fatal("missing tag rendered")
	}
	if _, err := render("{{.TaskDefinition}}", templateData("e", "r", "a", Artifact{}, "")); err == nil {
		t.Fatal(".TaskDefinition rendered before the task definition exists")
	}
}

// TestFargateNeedsCPUAndMemory: ECS refuses a Fargate task definition
// without task-level cpu and memory, so the config is refused when it loads.
func TestFargateNeedsCPUAndMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		want []string
	}{
		{"default launch type", `{}`, []string{".CPU: is required", ".Memory: is required"}},
		{"FARGATE", `{"LaunchType": "FARGATE", "CPU": "256"}`, []string{".Memory: is required"}},
		{"FARGATE_SPOT provider", `{"CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}], "Memory": "512"}`, []string{".CPU: is required"}},
		{"EC2", `{"LaunchType": "EC2"}`, nil},
		{"EC2 provider", `{"CapacityProviderStrategy": [{"CapacityProvider": "my-asg", "Weight": 1}]}`, nil},
		{"with both", `{"CPU": "256", "Memory": "512"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env map[string]any
			if err := json.Unmarshal([]byte(tc.env), &env); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]any{"Cluster": "c", "Family": "f", "Subnets": []string{"subnet-1"},
				"ListenerARN":     "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
				"TargetGroupARNs": map[string]string{"blue": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1", "green": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/2"}} {
				env[k] = v
			}
			cfg, _ := json.Marshal(map[string]any{"ConfigRegion": "us-east-1", "Apps": map[string]any{"web": map[string]any{
				"ArtifactDBProjectName": "web",
				"ContainerDefinitionTemplates": []any{map[string]any{"Name": "web", "Image": "img",
					"PortMappings": []any{map[string]any{"ContainerPort": 80}}}},
				"Environments": map[string]any{"prod": env}}}})
			_, err := LoadConfig(bytes.NewReader(cfg))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != len(tc.want) {
				t.Fatalf("err = %v, want %d problems", err, len(tc.want))
			}
			for i, w := range tc.want {
				if p := ce.Problems[i]; !strings.Contains(p.Path+": "+p.Message, `$.Apps["web"].Environments["prod"]`+w) {
					t.Errorf("problem %d = %s: %s, want %s", i, p.Path, p.Message, w)
				}
			}
		})
	}
}

// TestConfigChecksAWSLimits: what ECS and CloudWatch would refuse at step
// 5 or 6 is refused when the config loads, at its JSON path.
func TestConfigChecksAWSLimits(t *testing.T) {
	env := map[string]any{"Cluster": "c", "Family": "shop web", "CPU": "256", "Memory": "512",
		"SecurityGroups": []string{"sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"},
		"AlarmNames":     []string{""},
		"ListenerARN":    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
		"TargetGroupARNs": map[string]string{"blue": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1",
			"green": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/2"},
		"CapacityProviderStrategy": []any{map[string]any{"CapacityProvider": "FARGATE", "Weight": 1001, "Base": 1},
			map[string]any{"CapacityProvider": "FARGATE_SPOT", "Weight": 1, "Base": 200000}},
	}
	cfg, _ := json.Marshal(map[string]any{"ConfigRegion": "us-east-1", "Apps": map[string]any{"web": map[string]any{
		"ArtifactDBProjectName": "web",
		"ContainerDefinitionTemplates": []any{map[string]any{"Name": "web", "Image": "img",
			"PortMappings": []any{map[string]any{"ContainerPort": 80}}}},
		"Environments": map[string]any{"prod": env}}}})
	_, err := LoadConfig(bytes.NewReader(cfg))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	const p = `$.Apps["web"].Environments["prod"]`
	want := []string{
		p + `.Family: "shop web" is not a task definition family`,
		p + `.Subnets: has 0 subnets; tasks need 1 to 16`,
		p + `.SecurityGroups: has 6 security groups; ECS takes at most 5`,
		p + `.AlarmNames[0]: "" is not an alarm name`,
		p + `.CapacityProviderStrategy[0].Weight: 1001 is out of range 0 to 1000`,
		p + `.CapacityProviderStrategy[1].Base: 200000 is out of range 0 to 100000`,
		p + `.CapacityProviderStrategy: gives a base to 2 capacity providers; ECS takes one`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
}

// TestConfigRefusesSharedLocks: app "a-b" env "c" and app "a" env "b-c"
// would share the deploy lock "a-b-c" and its status.
func TestConfigRefusesSharedLocks(t *testing.T) {
	env := map[string]any{"Cluster": "c", "Family": "f", "CPU": "256", "Memory": "512", "Subnets": []string{"subnet-1"},
		"ListenerARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
		"TargetGroupARNs": map[string]string{"blue": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1",
			"green": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/2"}}
	app := func(envName string) map[string]any {
		return map[string]any{"ArtifactDBProjectName": "p",
			"ContainerDefinitionTemplates": []any{map[string]any{"Name": "web", "Image": "img", "PortMappings": []any{map[string]any{"ContainerPort": 80}}}},
			"Environments":                 map[string]any{envName: env}}
	}
	cfg, _ := json.Marshal(map[string]any{"ConfigRegion": "us-east-1", "Apps": map[string]any{"a-b": app("c"), "a": app("b-c")}})
	_, err := LoadConfig(bytes.NewReader(cfg))
	if err == nil || !strings.Contains(err.Error(), `$.Apps["a-b"].Environments["c"]: shares the deploy lock "a-b-c" with $.Apps["a"].Environments["b-c"]`) {
		t.Fatalf("err = %v", err)
	}
}
