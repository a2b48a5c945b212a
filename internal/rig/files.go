package rig

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// Env is the environment every app of a rig deploys to.
const Env = "prod"

// Builds is how many builds of each app the artifacts file holds.
const Builds = 5

// Files are a deploy config and an artifacts file.
type Files struct {
	Config, Artifacts string
}

// WriteFiles writes into dir a deploy config in the original tool's
// format for the seeded apps, each with one environment, Env, watching its
// seeded alarm with no bake time (one check after the swap), and an
// artifacts file with builds 1 to Builds of each.
func WriteFiles(dir string, seeded []awsim.Seeded) (Files, error) {
	apps := map[string]any{}
	artifacts := map[string][]map[string]any{}
	account, region := "123456789012", "us-east-1"
	for _, sd := range seeded {
		account, region = sd.AccountID, sd.Region
		apps[sd.Name] = map[string]any{
			"ArtifactDBProjectName": sd.Name,
			"ContainerDefinitionTemplates": []any{map[string]any{
				"Name": sd.ContainerName, "Image": "{{.Artifact.Value}}", "Essential": true,
				"PortMappings": []any{map[string]any{"containerPort": sd.ContainerPort, "protocol": "tcp"}},
				"Environment":  []any{map[string]any{"Name": "BUILD", "Value": "{{.Artifact.BuildNumber}}"}},
			}},
			"Environments": map[string]any{Env: map[string]any{
				"AccountID": sd.AccountID, "Region": sd.Region,
				"Cluster": sd.Cluster, "Family": sd.Service, "CPU": "256", "Memory": "512",
				"Subnets": sd.Subnets, "SecurityGroups": sd.SecurityGroups,
				"ListenerARN": sd.ListenerArn, "TargetGroupARNs": sd.TargetGroupArns, "AlarmNames": sd.Alarms,
			}},
		}
		for b := 1; b <= Builds; b++ {
			a := buildOf(sd.Name, b)
			artifacts[sd.Name] = append(artifacts[sd.Name], map[string]any{"build_number": a.BuildNumber, "value": a.Value, "tags": a.Tags})
		}
	}
	f := Files{Config: filepath.Join(dir, "deploy-config.json"), Artifacts: filepath.Join(dir, "artifacts.json")}
	for path, v := range map[string]any{
		f.Config:    map[string]any{"ConfigAccountID": account, "ConfigRegion": region, "Apps": apps},
		f.Artifacts: artifacts,
	} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return Files{}, err
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// buildOf is build b of app as the artifacts file and table hold it.
func buildOf(app string, b int) pipeline.Artifact {
	return pipeline.Artifact{BuildNumber: b, Value: fmt.Sprintf("%s:build-%d", app, b), Tags: map[string]string{"SHA": fmt.Sprintf("%07x", b)}}
}
