package pipeline

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzLoadConfig loads arbitrary configs: the loader never panics, a bad
// config is a *ConfigError whose every problem has a JSON path, and a config
// it takes renders every template of every app without panicking.
func FuzzLoadConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/original-config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"Apps":{"a":{"ContainerDefinitionTemplates":[{"Name":"{{.Artifact.Tags.X}}","Image":"{{template \"t\"}}"}]}}}`))
	f.Add([]byte(`{"Apps":{"a":null}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := LoadConfig(bytes.NewReader(raw))
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("refused without problems: %v", err)
			}
			for _, p := range ce.Problems {
				if p.Path == "" || p.Path[0] != '$' {
					t.Fatalf("a problem without a JSON path: %+v", p)
				}
			}
			return
		}
		for _, app := range cfg.Apps {
			data := templateData("env", "us-east-1", "123456789012", Artifact{BuildNumber: 1, Value: "img:1"}, "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1")
			_, _ = renderContainers(app.ContainerDefinitionTemplates, data)
			for _, c := range append(append(app.PreDeployCommandTemplates, app.VerifyCommandTemplates...), app.PostDeployCommandTemplates...) {
				_, _ = renderCommand(c, data)
			}
		}
	})
}
