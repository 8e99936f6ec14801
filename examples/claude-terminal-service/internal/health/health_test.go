package health

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// database starts a TCP listener standing in for PostgreSQL and returns its
// address; a connect is all the probe needs.
func database(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return ln.Addr().String()
}

// closedAddress returns an address that refuses connections: a port that was
// just free and is no longer listened on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func handler(addr string) *Handler {
	started := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return &Handler{
		Service:         "claude-terminal-service",
		Version:         "1.2.3",
		Started:         started,
		DatabaseAddress: addr,
		DatabaseProbe:   DialProbe(addr, time.Second),
		Now:             func() time.Time { return started.Add(90*time.Second + 400*time.Millisecond) },
	}
}

func get(t *testing.T, h http.Handler, method string) (*httptest.ResponseRecorder, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/health", nil))
	var report Report
	if method == http.MethodGet && rec.Code != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
			t.Fatalf("body is not JSON: %v: %q", err, rec.Body.String())
		}
	}
	return rec, report
}

func TestHealthyWhenDatabaseAcceptsConnections(t *testing.T) {
	addr := database(t)
	rec, report := get(t, handler(addr), http.MethodGet)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := Report{
		Service:       "claude-terminal-service",
		Version:       "1.2.3",
		Status:        StatusOK,
		Uptime:        "1m30s",
		UptimeSeconds: 90,
		Database:      Database{Address: addr, Reachable: true},
	}
	if report != want {
		t.Errorf("report = %+v\nwant     %+v", report, want)
	}
}

func TestUnavailableWhenDatabaseRefuses(t *testing.T) {
	addr := closedAddress(t)
	rec, report := get(t, handler(addr), http.MethodGet)

	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if report.Status != StatusUnavailable || report.Database.Reachable {
		t.Errorf("report = %+v, want unavailable and unreachable", report)
	}
	if report.Database.Error == "" || report.Database.Address != addr {
		t.Errorf("database = %+v, want the address and the dial error", report.Database)
	}
	// The same shape as a healthy answer: only the values differ.
	if report.Service != "claude-terminal-service" || report.Version != "1.2.3" || report.UptimeSeconds != 90 {
		t.Errorf("report = %+v, want service, version and uptime filled in", report)
	}
}

func TestProbeGivesUpAfterItsTimeout(t *testing.T) {
	// 192.0.2.0/24 (TEST-NET-1) is never routed, so the connect hangs until
	// the probe's own timeout, or fails at once where there is no route.
	probe := DialProbe("192.0.2.1:5432", 200*time.Millisecond)
	started := time.Now()
	if err := probe(context.Background()); err == nil {
		t.Fatal("probe of an unroutable address succeeded")
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Errorf("probe took %s, want about its 200ms timeout", elapsed)
	}
}

func TestHeadHasNoBodyAndOtherMethodsAreRefused(t *testing.T) {
	h := handler(database(t))
	rec, _ := get(t, h, http.MethodHead)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %q", rec.Code, rec.Body.String())
	}
	rec, _ = get(t, h, http.MethodPost)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}
