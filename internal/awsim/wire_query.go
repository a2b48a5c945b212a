package awsim

import (
	"encoding/xml"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// A query request's parameters as a tree: "Actions.member.1.Type=forward"
// becomes {"Actions": [{"Type": "forward"}]}. Values are string, qmap or qlist.
type (
	qmap  map[string]any
	qlist []any
)

// parseQuery builds the tree of a query request's form values.
func parseQuery(form url.Values) (qmap, error) {
	root := map[string]any{}
	for key, vals := range form {
		if len(vals) == 0 {
			continue
		}
		if err := insert(root, strings.Split(key, "."), vals[0]); err != nil {
			return nil, awsproto.Errorf("ValidationError", "parameter %s: %v", key, err)
		}
	}
	return freeze(root).(qmap), nil
}

// indexed marks a list being built: member index to element.
type indexed map[int]any

func insert(m map[string]any, parts []string, val string) error {
	head := parts[0]
	if len(parts) == 1 {
		m[head] = val
		return nil
	}
	if parts[1] == "member" {
		if len(parts) < 3 {
			return errString("list member without an index")
		}
		i, err := strconv.Atoi(parts[2])
		if err != nil || i < 1 || i > 10000 {
			return errString("bad list index " + strconv.Quote(parts[2]))
		}
		l, ok := m[head].(indexed)
		if !ok {
			if _, taken := m[head]; taken {
				return errString("both a value and a list")
			}
			l = indexed{}
			m[head] = l
		}
		if len(parts) == 3 {
			l[i] = val
			return nil
		}
		child, ok := l[i].(map[string]any)
		if !ok {
			child = map[string]any{}
			l[i] = child
		}
		return insert(child, parts[3:], val)
	}
	child, ok := m[head].(map[string]any)
	if !ok {
		if _, taken := m[head]; taken {
			return errString("both a value and a structure")
		}
		child = map[string]any{}
		m[head] = child
	}
	return insert(child, parts[1:], val)
}

type errString string

func (e errString) Error() string { return string(e) }

func freeze(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := qmap{}
		for k, c := range v {
			out[k] = freeze(c)
		}
		return out
	case indexed:
		keys := make([]int, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		out := make(qlist, 0, len(keys))
		for _, k := range keys {
			out = append(out, freeze(v[k]))
		}
		return out
	}
	return v
}

func (m qmap) str(key string) string {
	s, _ := m[key].(string)
	return s
}

func (m qmap) sub(key string) qmap {
	s, _ := m[key].(qmap)
	return s
}

func (m qmap) list(key string) qlist {
	l, _ := m[key].(qlist)
	return l
}

// strings returns a list of plain values.
func (m qmap) strings(key string) []string {
	var out []string
	for _, v := range m.list(key) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// structs returns a list of structures.
func (m qmap) structs(key string) []qmap {
	var out []qmap
	for _, v := range m.list(key) {
		if s, ok := v.(qmap); ok {
			out = append(out, s)
		}
	}
	return out
}

// intOr parses an integer parameter, returning def when it is absent.
func (m qmap) intOr(key string, def int) (int, error) {
	s := m.str(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, awsproto.Errorf("ValidationError", "%s %q is not an integer", key, s)
	}
	return n, nil
}

func (m qmap) required(keys ...string) error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return awsproto.Errorf("ValidationError", "1 validation error detected: value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(k))
		}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// MarshalXML writes a tree back in the query protocol's XML form, lists as
// <member> elements.
func (m qmap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := encodeNode(e, k, m[k]); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func (l qlist) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, v := range l {
		if err := encodeNode(e, "member", v); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func encodeNode(e *xml.Encoder, name string, v any) error {
	return e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: name}})
}

// writeQueryResult answers a query call: <OpResponse><OpResult>result</OpResult>...
func writeQueryResult(w xmlWriter, op, xmlns string, result any) error {
	enc := xml.NewEncoder(w)
	resp := xml.StartElement{Name: xml.Name{Local: op + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns}}}
	if err := enc.EncodeToken(resp); err != nil {
		return err
	}
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			return err
		}
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{awsproto.RequestID()}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	if err := enc.EncodeToken(resp.End()); err != nil {
		return err
	}
	return enc.Flush()
}

type xmlWriter interface {
	Write([]byte) (int, error)
}
