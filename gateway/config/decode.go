package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/gateway"
)

// decoder fills a Config from a yaml.Node tree, strictly.
//
// It walks the nodes itself instead of calling yaml.v3's Decode: Node.Decode
// forgets KnownFields, yaml.v3's own errors carry a line but not the key
// path an operator searches for, and a subscriber's secret is a scalar or a
// list, which []Secret cannot say by itself. Walking also lets it record
// the line of every key, which validation uses to place its errors.
type decoder struct {
	file  string
	errs  []*Error
	lines map[string]int    // key path -> line of the key (or list item)
	vals  map[string][2]int // key path -> line and column of its value

	expanding map[*yaml.Node]bool // anchors being decoded, to stop alias loops
	nodes     int                 // nodes decoded, bounded against alias bombs
}

// maxNodes bounds the work aliases can multiply a small file into.
const maxNodes = 100000

// at records where key and its value node are.
func (d *decoder) at(key string, keyLine int, val *yaml.Node) {
	d.lines[key] = keyLine
	d.vals[key] = [2]int{val.Line, val.Column}
}

var (
	durationType   = reflect.TypeFor[time.Duration]()
	byteSizeType   = reflect.TypeFor[gateway.ByteSize]()
	byteRateType   = reflect.TypeFor[gateway.ByteRate]()
	secretListType = reflect.TypeFor[[]gateway.Secret]()
	rateLimitType  = reflect.TypeFor[gateway.RateLimit]()
	rateType       = reflect.TypeFor[gateway.Rate]()
	minReplicaType = reflect.TypeFor[gateway.MinReplicas]()
	subscriberType = reflect.TypeFor[*gateway.SubscriberConfig]()
	redisType      = reflect.TypeFor[*gateway.RedisConfig]()
)

// newBlock returns a new value for a pointer of type t (a block the file
// has and the Config did not): for the blocks that have defaults of their
// own, those defaults, applied before the block's keys are read, so that
// an explicit value always wins.
func newBlock(t reflect.Type) reflect.Value {
	switch t {
	case subscriberType:
		return reflect.ValueOf(DefaultSubscriber())
	case redisType:
		return reflect.ValueOf(defaultRedis())
	}
	return reflect.New(t.Elem())
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: path, Err: fmt.Errorf(format, args...)})
}

// decode reads node n into v. A null node leaves v as it is, so that
// `timeout:` with nothing after it keeps the default.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes == maxNodes {
		// Keyless: decoding stops here, so the error explains (and
		// silences) every validation error that would follow.
		d.errorf(n.Line, "", "too many values (aliases expand to over %d)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.expanding[n.Alias] {
			d.errorf(n.Line, path, "alias *%s refers to itself", n.Value)
			return
		}
		if d.expanding == nil {
			d.expanding = map[*yaml.Node]bool{}
		}
		d.expanding[n.Alias] = true
		defer delete(d.expanding, n.Alias)
		n = n.Alias
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(newBlock(v.Type()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path, "a duration (1500ms, 2m)"); ok {
			dur, err := time.ParseDuration(s)
			if err != nil {
				d.errorf(n.Line, path, "invalid duration (want e.g. 1500ms, 2m, 168h)")
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case byteSizeType:
		if s, ok := d.scalar(n, path, "a size (5MB)"); ok {
			size, err := gateway.ParseByteSize(s)
			if err != nil {
				d.errorf(n.Line, path, "%v", err)
				return
			}
			v.SetInt(int64(size))
		}
		return
	case byteRateType:
		if s, ok := d.scalar(n, path, "a size per second (16KB/s)"); ok {
			r, err := gateway.ParseByteRate(s)
			if err != nil {
				d.errorf(n.Line, path, "%v", err)
				return
			}
			v.SetInt(int64(r))
		}
		return
	case rateType:
		if s, ok := d.scalar(n, path, "a rate (200/s, 30/m)"); ok {
			r, err := gateway.ParseRate(s)
			if err != nil {
				d.errorf(n.Line, path, "%v", err)
				return
			}
			v.SetFloat(float64(r))
		}
		return
	case minReplicaType:
		if s, ok := d.scalar(n, path, "auto or a number of replicas"); ok {
			m, err := gateway.ParseMinReplicas(s)
			if err != nil || (m.Fixed && n.ShortTag() != "!!int") {
				d.errorf(n.Line, path, "must be auto or a number of replicas >= 0")
				return
			}
			v.Set(reflect.ValueOf(m))
		}
		return
	case rateLimitType:
		// A rate alone, or the {rate, burst} block.
		if n.Kind == yaml.ScalarNode {
			d.decode(n, v.FieldByName("Rate"), path)
			return
		}
	case secretListType:
		if n.Kind == yaml.ScalarNode {
			d.at(path+"[0]", n.Line, n)
			v.Set(reflect.ValueOf([]gateway.Secret{gateway.Secret(n.Value)}))
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n.ShortTag() != "!!int" {
				d.errorf(n.Line, path, "must be an integer")
				return
			}
			v.SetInt(i)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			b, err := strconv.ParseBool(s)
			if err != nil || n.ShortTag() != "!!bool" {
				d.errorf(n.Line, path, "must be true or false")
				return
			}
			v.SetBool(b)
		}
	default:
		d.errorf(n.Line, path, "cannot hold a %s", v.Type())
	}
}

// scalar returns n's text, or records that a scalar was wanted. It never
// quotes the node's content: the node may be a secret.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, path, "must be %s, got %s", want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

// pairs returns a mapping node's key/value pairs, reporting keys that are
// not plain strings or that appear twice.
func (d *decoder) pairs(n *yaml.Node, path, want string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "must be %s, got %s", want, kindName(n))
		return nil
	}
	seen := map[string]int{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, val})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	pairs := d.pairs(n, path, "a mapping of keys")
	// Merge keys ("<<: *retry-defaults") first, so that the block's own
	// keys override what they bring in, as YAML specifies.
	var own [][2]*yaml.Node
	for _, kv := range pairs {
		if kv[0].ShortTag() != "!!merge" {
			own = append(own, kv)
			continue
		}
		from := kv[1]
		if from.Kind == yaml.AliasNode && from.Alias != nil && from.Alias.Kind == yaml.SequenceNode {
			from = from.Alias
		}
		if from.Kind == yaml.SequenceNode {
			for _, m := range from.Content {
				d.decode(m, v, path)
			}
			continue
		}
		d.decode(from, v, path)
	}
	for _, kv := range own {
		k, val := kv[0], kv[1]
		key := join(path, k.Value)
		idx := fieldByTag(t, k.Value)
		if idx < 0 {
			d.errorf(k.Line, key, "unknown key (known: %s)", strings.Join(knownKeys(t), ", "))
			continue
		}
		d.at(key, k.Line, val)
		d.decode(val, v.Field(idx), key)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n.Line, path, "cannot hold a %s", t)
		return
	}
	pairs := d.pairs(n, path, "a mapping of names")
	if pairs == nil {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, kv := range pairs {
		k, val := kv[0], kv[1]
		key := join(path, k.Value)
		d.at(key, k.Line, val)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(val, elem, key)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, path, "must be a list, got %s", kindName(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		key := fmt.Sprintf("%s[%d]", path, i)
		d.at(key, item.Line, item)
		d.decode(item, out.Index(i), key)
	}
	v.Set(out)
}

// fieldByTag finds the struct field whose yaml tag names key.
func fieldByTag(t reflect.Type, key string) int {
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key && name != "-" {
			return i
		}
	}
	return -1
}

func knownKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
