package docker

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

type compose struct {
	Services map[string]struct {
		Build *struct {
			Context, Dockerfile, Target string
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestComposeMatchesTheDockerfile checks what no engine can here: each
// service built from the Dockerfile names one of its stages, every port is
// published on loopback only, the daemon and setup reach each stand-in by
// service name, and .ci/run builds the binaries with the Dockerfile's
// flags.
func TestComposeMatchesTheDockerfile(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, m := range regexp.MustCompile(`(?m)^FROM \S+ AS (\S+)$`).FindAllStringSubmatch(string(df), -1) {
		stages = append(stages, m[1])
	}
	for _, name := range []string{"goaws", "dynamodb", "awsim", "setup", "daemon"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %s", name)
			continue
		}
		if s.Build != nil && !slices.Contains(stages, s.Build.Target) {
			t.Errorf("service %s builds target %q; the Dockerfile's stages are %v", name, s.Build.Target, stages)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %s beyond loopback", name, p)
			}
		}
	}
	if img := c.Services["dynamodb"].Image; !strings.HasPrefix(img, "amazon/dynamodb-local:") || strings.HasSuffix(img, ":latest") {
		t.Errorf("dynamodb image %q is not a pinned amazon/dynamodb-local", img)
	}
	for _, svc := range []string{"setup", "daemon"} {
		env := c.Services[svc].Environment
		for k, host := range map[string]string{"AWS_ENDPOINT_URL_SQS": "goaws", "AWS_ENDPOINT_URL_SNS": "goaws", "AWS_ENDPOINT_URL_DYNAMODB": "dynamodb",
			"AWS_ENDPOINT_URL_ECS": "awsim", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": "awsim", "AWS_ENDPOINT_URL_CLOUDWATCH": "awsim",
			"AWS_ENDPOINT_URL_STS": "awsim"} {
			if !strings.HasPrefix(env[k], "http://"+host+":") {
				t.Errorf("service %s: %s=%q, want the %s service", svc, k, env[k], host)
			}
		}
	}
	flags := `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"`
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "CGO_ENABLED=0") || !strings.Contains(string(df), `go build -trimpath -ldflags="-s -w"`) || !strings.Contains(string(ci), flags) {
		t.Errorf(".ci/run and the Dockerfile do not build with the same flags (%s)", flags)
	}
	if !regexp.MustCompile(`(?m)^USER 10001`).Match(df) || !strings.Contains(string(df), "apk add --no-cache git") {
		t.Error("the image must run as a non-root user and carry git")
	}
}
