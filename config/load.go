package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// DefaultSearchPaths are the configuration files Load tries, in order, when no path is given.
func DefaultSearchPaths() []string {
	return []string{"config.yaml", "/etc/shipbridge/config.yaml"}
}

// LookupFunc returns the value of an environment variable and whether it is set, like os.LookupEnv.
type LookupFunc func(name string) (string, bool)

// Load reads the configuration: the defaults, then the YAML file, then the environment.
//
// When path is not empty the file must exist. When path is empty Load reads the first existing
// file of DefaultSearchPaths, or none. lookup reads the environment; nil means os.LookupEnv.
// An environment variable that is set, even to the empty string, overrides its key (an empty
// SHIPBRIDGE_HTTP_LISTEN disables the HTTP server).
//
// The carriers are those of mods: each carrier's keys, carriers.<key>.*, are decoded into its
// own settings type (carriers.Module.Defaults), which Load then completes (Settings.Complete).
//
// Load rejects unknown keys in the file and values of the wrong type; it does not call Validate.
func Load(path string, lookup LookupFunc, mods ...carriers.Module) (Config, error) {
	return load(path, DefaultSearchPaths(), lookup, mods...)
}

func load(path string, search []string, lookup LookupFunc, mods ...carriers.Module) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v := viper.New()
	v.SetConfigType("yaml")

	defaults := Default(mods...)
	fields := Fields(defaults)
	for _, f := range fields {
		v.SetDefault(f.Key, f.raw)
	}

	file := path
	if file == "" {
		for _, candidate := range search {
			if _, err := os.Stat(candidate); err == nil {
				file = candidate
				break
			} else if !errors.Is(err, fs.ErrNotExist) {
				return Config{}, fmt.Errorf("config: %w", err)
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config: read %s: %w", file, err)
		}
	}

	// Every key is bound explicitly: viper's AutomaticEnv only sees keys viper already knows from
	// the file, and cannot take an injected environment.
	for _, f := range fields {
		if value, ok := lookup(f.Env); ok {
			v.Set(f.Key, value)
		}
	}

	known := make(map[string]bool, len(fields))
	var knownKeys []string
	for _, f := range fields {
		known[f.Key] = true
		knownKeys = append(knownKeys, f.Key)
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		msgs := make([]string, len(unknown))
		for i, k := range unknown {
			msgs[i] = UnknownKeyMessage(k, knownKeys)
		}
		return Config{}, fmt.Errorf("config: %s: %s", file, strings.Join(msgs, "; "))
	}

	cfg, err := decode(v, defaults.Carriers)
	if err != nil {
		where := "defaults and environment"
		if file != "" {
			where = file + " and environment"
		}
		return Config{}, fmt.Errorf("config: %s: %w", where, err)
	}
	cfg.File = file
	return cfg, nil
}

// decode unmarshals every key of v at once, so that a value of the wrong type is named by its
// full key wherever it is: into a struct made for the purpose, the common Config squashed into
// it next to "carriers", whose fields are the settings types of the carriers, one per key. The
// carriers' settings are then completed (Settings.Complete).
func decode(v *viper.Viper, cs Carriers) (Config, error) {
	fields := make([]reflect.StructField, len(cs.sections))
	for i, s := range cs.sections {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("C%d", i), Type: reflect.TypeOf(s.Settings),
			Tag: reflect.StructTag(`mapstructure:"` + s.Key() + `"`)}
	}
	target := reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "Common", Type: reflect.TypeFor[Config](), Tag: `mapstructure:",squash"`},
		{Name: "Carriers", Type: reflect.StructOf(fields), Tag: `mapstructure:"carriers"`},
	}))
	if err := v.UnmarshalExact(target.Interface()); err != nil {
		return Config{}, err
	}
	cfg := target.Elem().Field(0).Interface().(Config)
	decoded := target.Elem().Field(1)
	cfg.Carriers = Carriers{sections: make([]CarrierSection, len(cs.sections))}
	for i, s := range cs.sections {
		done := decoded.Field(i).Interface().(carriers.Settings).Complete()
		if reflect.TypeOf(done) != reflect.TypeOf(s.Settings) {
			return Config{}, fmt.Errorf("carriers.%s: Complete returned %T, not %T", s.Key(), done, s.Settings)
		}
		cfg.Carriers.sections[i] = CarrierSection{Module: s.Module, Settings: done}
	}
	return cfg, nil
}

// Field is one configuration key with its value in a Config.
type Field struct {
	// Key is the dotted configuration key, e.g. "moysklad.token".
	Key string
	// Env is the environment variable that overrides the key, e.g. "SHIPBRIDGE_MOYSKLAD_TOKEN".
	Env string
	// Secret reports whether the value is a secret.
	Secret bool
	// Value is the value formatted for humans; secrets are redacted.
	Value string

	raw any
}

// EnvName returns the environment variable that overrides key.
func EnvName(key string) string { return setting.EnvName(key) }

// Fields lists every configuration key of c, in declaration order (each carrier's keys,
// carriers.<key>.*, in the order of its settings type, where Config declares Carriers), with its
// value formatted for humans and secrets redacted.
func Fields(c Config) []Field {
	var out []Field
	walk(reflect.ValueOf(c), "", &out)
	return out
}

func walk(v reflect.Value, prefix string, out *[]Field) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type == reflect.TypeFor[Carriers]() {
			for _, s := range v.Field(i).Interface().(Carriers).sections {
				walk(reflect.ValueOf(s.Settings), "carriers."+s.Key(), out)
			}
			continue
		}
		name := sf.Tag.Get("mapstructure")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			walk(fv, key, out)
			continue
		}
		f := Field{Key: key, Env: EnvName(key)}
		switch {
		case fv.Type() == reflect.TypeFor[Secret]():
			s := Secret(fv.String())
			f.Secret, f.Value, f.raw = true, s.String(), string(s)
		case fv.Type() == reflect.TypeFor[time.Duration]():
			d := time.Duration(fv.Int())
			f.Value, f.raw = formatDuration(d), d
		case fv.Kind() == reflect.Slice:
			items := make([]string, fv.Len())
			for j := range items {
				items[j] = fmt.Sprint(fv.Index(j).Interface())
			}
			f.Value, f.raw = "["+strings.Join(items, ", ")+"]", items
		default:
			f.Value, f.raw = fmt.Sprint(fv.Interface()), fv.Interface()
		}
		*out = append(*out, f)
	}
}

// formatDuration prints 15m rather than 15m0s, and 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// String lists every key and its value, one "key = value" per line, with secrets redacted.
// It is safe to log.
func (c Config) String() string {
	var b strings.Builder
	for _, f := range Fields(c) {
		fmt.Fprintf(&b, "%s = %s\n", f.Key, f.Value)
	}
	return b.String()
}

// Redacted returns the configuration as a key → value map with secrets redacted, for structured logs.
func (c Config) Redacted() map[string]string {
	m := make(map[string]string)
	for _, f := range Fields(c) {
		m[f.Key] = f.Value
	}
	return m
}

// UnknownKeyMessage says that key is not a configuration key and names the
// known keys nearest to it: those spelt almost alike, else the known keys of
// the same section.
func UnknownKeyMessage(key string, known []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	last := key
	if i := strings.LastIndex(key, "."); i >= 0 {
		last = key[i+1:]
	}
	if near := Nearest(key, known, 3, spellingLimit(last), "."); len(near) > 0 {
		return msg + "; did you mean " + strings.Join(near, " or ") + "?"
	}
	section := ""
	if i := strings.LastIndex(key, "."); i >= 0 {
		section = key[:i]
	}
	for section != "" {
		var siblings []string
		for _, k := range known {
			if strings.HasPrefix(k, section+".") {
				siblings = append(siblings, k)
			}
		}
		if len(siblings) > 0 {
			return msg + "; the known keys under " + section + " are " + strings.Join(siblings, ", ")
		}
		if i := strings.LastIndex(section, "."); i >= 0 {
			section = section[:i]
		} else {
			section = ""
		}
	}
	return msg + "; see config.yaml in the repository for every key"
}

// UnknownEnv returns a warning for every SHIPBRIDGE_* variable in environ
// ("NAME=value" entries, as os.Environ) that no configuration key reads (the
// common keys and those of the carriers of mods), naming the nearest known
// variable. Such a variable is ignored, which is easy to miss:
// SHIPBRIDGE_MOYSKLAD_TOKN leaves the token unset.
func UnknownEnv(environ []string, mods ...carriers.Module) []string {
	fields := Fields(Default(mods...))
	known := make(map[string]bool, len(fields))
	shortNames := make([]string, 0, len(fields))
	keyOf := make(map[string]string, len(fields))
	for _, f := range fields {
		known[f.Env] = true
		keyOf[f.Env] = f.Key
		shortNames = append(shortNames, strings.TrimPrefix(f.Env, EnvPrefix))
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] {
			continue
		}
		msg := fmt.Sprintf("environment variable %s is not a shipbridge setting and is ignored", name)
		short := strings.TrimPrefix(name, EnvPrefix)
		if near := Nearest(short, shortNames, 2, spellingLimit(short[strings.LastIndex(short, "_")+1:]), "_"); len(near) > 0 {
			for i := range near {
				near[i] = EnvPrefix + near[i]
				near[i] += " (key " + keyOf[near[i]] + ")"
			}
			msg += "; did you mean " + strings.Join(near, " or ") + "?"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// Nearest returns up to max of candidates nearest to s, nearest first:
// those within an edit distance of limit, then those that end like s after
// sep (the right name at the wrong place: cdek.tariff_code for
// carriers.cdek.tariff_code).
func Nearest(s string, candidates []string, max, limit int, sep string) []string {
	type cand struct {
		name string
		d    int
	}
	ls := strings.ToLower(s)
	var cs []cand
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if d := editDistance(ls, lc); d <= limit {
			cs = append(cs, cand{c, d})
		} else if strings.HasSuffix(lc, sep+ls) {
			cs = append(cs, cand{c, limit + 1})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	out := make([]string, 0, max)
	for _, c := range cs {
		if len(out) == max {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// spellingLimit is how many edits a misspelt name may be from the right
// one: a third of its last part, at least 2.
func spellingLimit(last string) int {
	return max(2, len([]rune(last))/3)
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
