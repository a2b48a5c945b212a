package pipeline

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// unknownFields lists, by JSON path, the object keys of raw that no field of
// DeployConfig takes. Container definitions are passed to ECS as they are,
// so their keys are not checked.
func unknownFields(raw []byte) []string {
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil
	}
	var out []string
	walkUnknown(tree, reflect.TypeOf(DeployConfig{}), "$", &out)
	return out
}

var rawMessageType = reflect.TypeOf(json.RawMessage{})

func walkUnknown(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(obj) {
			f, ok := fieldFold(t, k)
			if !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: unknown field, ignored", path, k))
				continue
			}
			walkUnknown(obj[k], f.Type, path+"."+k, out)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(obj) {
			walkUnknown(obj[k], t.Elem(), key(path, k), out)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok || t == rawMessageType || t.Elem() == rawMessageType {
			return
		}
		for i, e := range list {
			walkUnknown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// fieldFold finds the exported field encoding/json would fill from key k.
func fieldFold(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		if strings.EqualFold(f.Name, k) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
