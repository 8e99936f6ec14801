package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/claude-terminal-service/internal/logging"
)

func env(values map[string]string) func(string) string {
	return func(key string) string { return values[key] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "3000" || cfg.dbHost != "localhost" || cfg.dbPort != "5432" || cfg.logLevel != logging.Info {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestConfigRejectsBadValuesNamingThem(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "http"}, `PORT "http" is not a TCP port`},
		{map[string]string{"DB_PORT": "70000"}, `DB_PORT "70000" is not a TCP port`},
		{map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL "loud" is not a log level`},
	} {
		_, err := loadConfig(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error = %v, want %q...", tc.env, err, tc.want)
		}
	}
}

func TestEveryRequestIsLoggedOnOneLine(t *testing.T) {
	var out bytes.Buffer
	h := logRequests(logging.New(&out, logging.Info), http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nope", nil))

	line := out.String()
	if strings.Count(line, "\n") != 1 {
		t.Fatalf("want exactly one line, got %q", line)
	}
	for _, field := range []string{"msg=request", "method=GET", "path=/nope", "status=404"} {
		if !strings.Contains(line, field) {
			t.Errorf("line %q lacks %s", line, field)
		}
	}
}
