package runtime

import (
	"reflect"
	"testing"
	"time"
)

// TestEveryFieldHasADescriptor: every field of every policy's config is
// named by exactly one key (Disabled by the policy itself), so that a
// field added without its descriptor entry fails here rather than being
// silently left out of directives, resgen.yaml, resgen init and profiles
// and the generated Config literal.
func TestEveryFieldHasADescriptor(t *testing.T) {
	ct := reflect.TypeOf(Config{})
	if len(policies) != ct.NumField() {
		t.Errorf("%d policies for the %d fields of Config", len(policies), ct.NumField())
	}
	for _, p := range policies {
		f, ok := ct.FieldByName(p.Field)
		if !ok {
			t.Errorf("%s: Config has no field %s", p.Name, p.Field)
			continue
		}
		if f.Type.Name() != p.Type {
			t.Errorf("%s: Config.%s is a %s, not a %s", p.Name, p.Field, f.Type.Name(), p.Type)
		}
		named := map[string]int{"Disabled": 1}
		for _, k := range p.Keys {
			named[k.Field]++
			if _, ok := f.Type.FieldByName(k.Field); !ok {
				t.Errorf("%s.%s: %s has no field %s", p.Name, k.Name, p.Type, k.Field)
			}
			if k.Doc == "" {
				t.Errorf("%s.%s has no doc", p.Name, k.Name)
			}
		}
		for i := 0; i < f.Type.NumField(); i++ {
			if n := named[f.Type.Field(i).Name]; n != 1 {
				t.Errorf("%s.%s is named by %d keys, want 1", p.Type, f.Type.Field(i).Name, n)
			}
		}
	}
}

// TestKeyTextRoundTrips: the text that resgen prints of every key of a
// normalized Config is read back by Apply to the same value, and the
// descriptor's field is the one that Apply sets.
func TestKeyTextRoundTrips(t *testing.T) {
	var c Config
	c.RateLimit.Strategy = StrategyQueue
	c.CircuitBreaker.Group = "orders"
	c.Retry.InitialDelay = 1500 * time.Millisecond
	c.Retry.MaxDelay = 90 * time.Second
	c.RateLimit.Global = true
	c.Recovery.DisableSchemaAdaptation = true
	c = c.Normalize()
	for _, p := range policies {
		for i := range p.Keys {
			k := &p.Keys[i]
			text := k.Text(&c)
			if text == "" && k.Unset != "" {
				text = k.Example // absent in c: its example must read back
			}
			if text == "" {
				t.Errorf("%s.%s prints nothing", p.Name, k.Name)
				continue
			}
			var got Config
			if err := got.Apply(Setting{Policy: p.Name, Key: k.Name, Value: text}); err != nil {
				t.Errorf("%s.%s=%s: %v", p.Name, k.Name, text, err)
				continue
			}
			if k.Text(&got) != text {
				t.Errorf("%s.%s=%s prints back as %s", p.Name, k.Name, text, k.Text(&got))
			}
			if text != k.Example && !reflect.DeepEqual(k.GoValue(&got), k.GoValue(&c)) {
				t.Errorf("%s.%s=%s reads back as %v, want %v", p.Name, k.Name, text, k.GoValue(&got), k.GoValue(&c))
			}
			fv := reflect.ValueOf(got).FieldByName(p.Field).FieldByName(k.Field)
			if fv.Kind() == reflect.Struct { // a Matcher
				fv = fv.FieldByName("Classes")
			}
			if !reflect.DeepEqual(fv.Interface(), k.GoValue(&got)) {
				t.Errorf("%s.%s: GoValue %v, but %s.%s is %v", p.Name, k.Name, k.GoValue(&got), p.Field, k.Field, fv.Interface())
			}
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{time.Minute, "1m"}, {90 * time.Second, "1m30s"}, {time.Hour, "1h"}, {500 * time.Millisecond, "500ms"},
		{1500 * time.Microsecond, "1.5ms"}, {2.0, "2"}, {0.3, "0.3"}, {3, "3"},
		{ClassesTransient | ClassAuth, "transient,auth"}, {ClassesAll, "any"}, {Class(0), "none"},
	} {
		if got := formatValue(tt.v, false); got != tt.want {
			t.Errorf("formatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// FuzzApply: no text makes Apply panic, and a value that Apply accepts
// prints as text that Apply reads back to the same field.
func FuzzApply(f *testing.F) {
	for _, p := range policies {
		for _, k := range p.Keys {
			f.Add(p.Name, k.Name, "1")
			f.Add(p.Name, k.Name, "true")
			f.Add(p.Name, k.Name, "1m30s")
			f.Add(p.Name, k.Name, "0.5")
			f.Add(p.Name, k.Name, "transient,auth")
		}
		f.Add(p.Name, "", "off")
	}
	f.Add("retry", "jitter", "true")
	f.Add("rate_limit", "backpressure_strategy", "queue")
	f.Fuzz(func(t *testing.T, policy, key, value string) {
		var c Config
		if err := c.Apply(Setting{Policy: policy, Key: key, Value: value}); err != nil || key == "" {
			return
		}
		k := policyNamed(policy).key(key)
		text := k.Text(&c)
		if text == "" {
			return // absent: a zero that means unset
		}
		var back Config
		if err := back.Apply(Setting{Policy: policy, Key: key, Value: text}); err != nil {
			t.Fatalf("%s.%s=%q prints as %q, which Apply refuses: %v", policy, key, value, text, err)
		}
		if !reflect.DeepEqual(k.GoValue(&back), k.GoValue(&c)) {
			t.Fatalf("%s.%s=%q prints as %q, which reads back as %v, not %v", policy, key, value, text, k.GoValue(&back), k.GoValue(&c))
		}
	})
}
