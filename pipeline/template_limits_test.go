package pipeline

import (
	"strings"
	"testing"
)

// TestTemplatesCannotRunAway: a template may not make rendering loop,
// recurse or blow up (found by FuzzLoadConfig: {{range 100000000}} took
// seconds and 100 MB); the values, conditions and index the original's
// configs use still render.
func TestTemplatesCannotRunAway(t *testing.T) {
	data := templateData("prod", "us-east-1", "123456789012", Artifact{BuildNumber: 7, Value: "img:7", Tags: map[string]string{"SHA": "abc"}}, "")
	for _, c := range []struct{ tpl, want string }{
		{`{{range 100000000}}x{{end}}`, "{{range}} is not allowed"},
		{`{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`, "{{define}} and {{block}} are not allowed"},
		{`{{template "x"}}`, "{{template}} is not allowed"},
		{`{{printf "%0100000000d" 1}}`, "the function printf is not allowed"},
		{`{{if true}}{{(print 1)}}{{end}}`, "the function print is not allowed"},
		{`{{.Environment}}{{.Environment}}`, ""},
	} {
		_, err := render(c.tpl, data)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.tpl, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.tpl, err, c.want)
		}
	}
	for _, tpl := range []string{`{{.Artifact.Value}}`, `{{index .Artifact.Tags "SHA"}}`, `{{if eq .Environment "prod"}}p{{else}}np{{end}}`, `{{with .Artifact}}{{.BuildNumber}}{{end}}`} {
		if _, err := render(tpl, data); err != nil {
			t.Errorf("%s: %v", tpl, err)
		}
	}
}
