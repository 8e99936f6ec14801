package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(values map[string]string) func(string) string {
	return func(key string) string { return values[key] }
}

func TestConfigBuildsTheHealthURL(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{"NODE_SERVICE_HOST": "claude-terminal-service"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "http://claude-terminal-service:3000/health" || cfg.interval != 10*time.Second {
		t.Errorf("config = %+v", cfg)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "NODE_SERVICE_HOST is not set"},
		{map[string]string{"NODE_SERVICE_HOST": "h", "NODE_SERVICE_PORT": "x"}, `NODE_SERVICE_PORT "x"`},
		{map[string]string{"NODE_SERVICE_HOST": "h", "POLL_INTERVAL": "soon"}, `POLL_INTERVAL "soon" is not a duration`},
		{map[string]string{"NODE_SERVICE_HOST": "h", "POLL_INTERVAL": "0"}, `POLL_INTERVAL "0" is not positive`},
	} {
		_, err := loadConfig(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error = %v, want %q...", tc.env, err, tc.want)
		}
	}
}

func TestIntervalAcceptsDurationsAndSeconds(t *testing.T) {
	for text, want := range map[string]time.Duration{"": 10 * time.Second, "2s": 2 * time.Second, "1m": time.Minute, "5": 5 * time.Second} {
		if got, err := parseInterval(text); err != nil || got != want {
			t.Errorf("parseInterval(%q) = %s, %v; want %s", text, got, err, want)
		}
	}
}

func TestPollReportsStatusAndHealth(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable"}`))
	}))
	defer server.Close()

	r := poll(context.Background(), server.Client(), server.URL+"/health")
	if r.err != nil || r.status != 503 || r.health != "unavailable" || r.latency <= 0 {
		t.Errorf("result = %+v", r)
	}
}

func TestPollOfAbsentServiceIsAnError(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL + "/health"
	server.Close()

	r := poll(context.Background(), &http.Client{Timeout: time.Second}, url)
	if r.err == nil {
		t.Fatalf("result = %+v, want a connection error", r)
	}
	if f := r.fields(url); f["error"] == nil || f["status"] != nil {
		t.Errorf("fields = %v", f)
	}
}
