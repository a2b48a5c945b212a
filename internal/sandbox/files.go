package sandbox

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"ecs-deploy/internal/awsim"
)

// Files are the deploy config and the artifacts file written for seeded
// apps.
type Files struct {
	Config, Artifacts string
}

// FilesConfig shapes the files WriteFiles writes.
type FilesConfig struct {
	// Env is the environment name of every app. Default "prod".
	Env string
	// Builds is how many builds each app has in the artifacts file, 1 to
	// Builds. Default 5.
	Builds int
	// BakeTime is how long step 11 watches the seeded alarm and target
	// health after the swap. Default 2s; negative: none, one check after
	// the swap.
	BakeTime time.Duration
}

func (c *FilesConfig) setDefaults() {
	if c.Env == "" {
		c.Env = "prod"
	}
	if c.Builds == 0 {
		c.Builds = 5
	}
	if c.BakeTime == 0 {
		c.BakeTime = 2 * time.Second
	}
}

// BuildSHA is the SHA tag of an app's build in the artifacts file.
func BuildSHA(app string, build int) string {
	sum := sha1.Sum(fmt.Appendf(nil, "%s build %d", app, build))
	return hex.EncodeToString(sum[:])[:7]
}

// WriteFiles writes, into dir, a deploy config (deploy-config.json) in the
// original tool's format for the seeded apps, and an artifacts file
// (artifacts.json) with builds 1 to FilesConfig.Builds of each, tagged
// with their SHA.
func WriteFiles(dir string, seeded []awsim.Seeded, fc FilesConfig) (Files, error) {
	fc.setDefaults()
	apps := map[string]any{}
	artifacts := map[string][]map[string]any{}
	var account, region string
	for _, sd := range seeded {
		account, region = sd.AccountID, sd.Region
		env := map[string]any{
			"AccountID": sd.AccountID, "Region": sd.Region,
			"Cluster": sd.Cluster, "Family": sd.Service, "CPU": "256", "Memory": "512",
			"Subnets": sd.Subnets, "SecurityGroups": sd.SecurityGroups,
			"ListenerARN": sd.ListenerArn, "TargetGroupARNs": sd.TargetGroupArns, "AlarmNames": sd.Alarms,
		}
		if fc.BakeTime > 0 {
			env["BakeTime"] = fc.BakeTime.String()
		}
		apps[sd.Name] = map[string]any{
			"ArtifactDBProjectName": sd.Name,
			"ContainerDefinitionTemplates": []any{map[string]any{
				"Name": sd.ContainerName, "Image": "{{.Artifact.Value}}", "Essential": true,
				"PortMappings": []any{map[string]any{"containerPort": sd.ContainerPort, "protocol": "tcp"}},
				"Environment": []any{
					map[string]any{"Name": "ENVIRONMENT", "Value": "{{.Environment}}"},
					map[string]any{"Name": "BUILD", "Value": "{{.Artifact.BuildNumber}}"},
					map[string]any{"Name": "COMMIT", "Value": "{{.Artifact.Tags.SHA}}"},
				},
			}},
			"Environments": map[string]any{fc.Env: env},
		}
		for b := 1; b <= fc.Builds; b++ {
			artifacts[sd.Name] = append(artifacts[sd.Name], map[string]any{"build_number": b,
				"value": fmt.Sprintf("%s:build-%d", sd.Name, b), "tags": map[string]string{"SHA": BuildSHA(sd.Name, b)}})
		}
	}
	cfg, err := json.MarshalIndent(map[string]any{"ConfigAccountID": account, "ConfigRegion": region, "Apps": apps}, "", "  ")
	if err != nil {
		return Files{}, err
	}
	arts, err := json.MarshalIndent(artifacts, "", "  ")
	if err != nil {
		return Files{}, err
	}
	f := Files{Config: filepath.Join(dir, "deploy-config.json"), Artifacts: filepath.Join(dir, "artifacts.json")}
	if err := os.WriteFile(f.Config, append(cfg, '\n'), 0o644); err != nil {
		return Files{}, err
	}
	if err := os.WriteFile(f.Artifacts, append(arts, '\n'), 0o644); err != nil {
		return Files{}, err
	}
	return f, nil
}
