package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/config"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// TestOverrideOfNoWrapperIsWarned: an entry keyed by a name that no
// wrapper has, close to the name of the wrapper being built or the name of
// its interface, is logged once as a warning with a suggestion by the
// Manager that sees it, instead of silently applying to nothing. Entries
// for other wrappers, and keys far from the wrapper's name, are not.
func TestOverrideOfNoWrapperIsWarned(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want []string // warnings of the first Manager; the second logs none
	}{
		{"misspelt", []string{"ResilientOrder"},
			[]string{`overrides.yaml:3:3: wrappers: no wrapper is named ResilientOrder, so its overrides apply to none (did you mean "ResilientOrders"?)`}},
		{"case", []string{"resilientOrders"},
			[]string{`overrides.yaml:3:3: wrappers: no wrapper is named resilientOrders, so its overrides apply to none (did you mean "ResilientOrders"?)`}},
		{"the interface", []string{"Orders"},
			[]string{`overrides.yaml:3:3: wrappers: no wrapper is named Orders, so its overrides apply to none (Orders is the interface: key its overrides by the wrapper's type name, ResilientOrders)`}},
		{"the qualified interface", []string{"config_test.Orders"},
			[]string{`overrides.yaml:3:3: wrappers: no wrapper is named config_test.Orders, so its overrides apply to none (config_test.Orders is the interface: key its overrides by the wrapper's type name, ResilientOrders)`}},
		{"two, one far", []string{"ResilientPayments", "ResilientOrdrs"},
			[]string{`overrides.yaml:5:3: wrappers: no wrapper is named ResilientOrdrs, so its overrides apply to none (did you mean "ResilientOrders"?)`}},
		{"another wrapper's", []string{"ResilientPayments"}, nil},
		{"its own, and a close one", []string{"ResilientOrders", "ResilientOrder"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src strings.Builder
			src.WriteString("version: 1\nwrappers:\n")
			for _, k := range tt.keys {
				src.WriteString("  " + k + ":\n    rate_limit: off\n")
			}
			path := filepath.Join(t.TempDir(), "overrides.yaml")
			if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(filepath.Dir(path))
			file, err := config.Load("overrides.yaml")
			if err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				var logs bytes.Buffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					},
				}))
				m, err := resgenimpl.NewManager(struct{}{}, &resgenimpl.Spec{
					Wrapper:   "ResilientOrders",
					Interface: "config_test.Orders",
					Methods:   []resgenimpl.MethodSpec{{Name: "Get"}},
				}, runtime.WithConfig(file), runtime.WithLogger(logger))
				if err != nil {
					t.Fatal(err)
				}
				m.Close()
				var want []string
				if round == 0 {
					for _, w := range tt.want {
						want = append(want, "level=WARN msg="+quoteLog(w)+" wrapper=ResilientOrders")
					}
				}
				got := strings.Split(strings.TrimSpace(logs.String()), "\n")
				if logs.Len() == 0 {
					got = nil
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("Manager %d logged:\n%s\nwant:\n%s", round+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

// quoteLog quotes a message as slog's text handler does.
func quoteLog(s string) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key != slog.MessageKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info(s)
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), "msg="), "\n")
}
