package artifactdb_test

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"ecs-deploy/internal/artifactdb"
)

func TestRegisterCommand(t *testing.T) {
	cases := []struct {
		name string
		args string
		want string // in the error; "" for success
	}{
		{"good", "-project shop -build 12 -image img.example/shop:12 -tag SHA=abc123 -tag branch=main", ""},
		{"no SHA tag", "-project shop -build 12 -image shop:12", "-tag SHA=<commit> is required"},
		{"bad tag", "-project shop -build 12 -image shop:12 -tag SHA", `tag "SHA" is not KEY=VALUE`},
		{"no project, no build", "-image shop:12 -tag SHA=abc", "-project is required\n-build must be a positive build number"},
		{"stray argument", "-project shop -build 12 -image shop:12 -tag SHA=abc extra", `unexpected arguments ["extra"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := artifactdb.File{Path: filepath.Join(t.TempDir(), "artifacts.json")}
			var out bytes.Buffer
			err := artifactdb.RegisterCommand(t.Context(), store, strings.Fields(c.args), &out, io.Discard)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v; want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, err := store.GetBuild(t.Context(), "shop", 12)
			if err != nil || a.Value != "img.example/shop:12" || a.Tags["SHA"] != "abc123" || a.Tags["branch"] != "main" {
				t.Fatalf("build 12 = %+v, %v", a, err)
			}
			if out.String() != "registered build 12 of shop: img.example/shop:12\n" {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}
