// Package health answers GET /health: who the service is, how long it has run,
// and whether its PostgreSQL database accepts connections.
package health

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// Probe reports whether a dependency is reachable; nil means it is.
type Probe func(ctx context.Context) error

// DialProbe checks that address accepts a TCP connection within timeout.
//
// Limitation: a TCP connect proves PostgreSQL listens, not that the credentials
// work or that it accepts queries; checking those needs a PostgreSQL driver,
// which the standard library does not have.
func DialProbe(address string, timeout time.Duration) Probe {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var dialer net.Dialer
		conn, err := dialer.DialContext(ctx, "tcp", address)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// Status values of a Report.
const (
	StatusOK          = "ok"
	StatusUnavailable = "unavailable"
)

// Report is the JSON body of /health; it has the same shape for 200 and 503
// so that pollers and people read one format.
type Report struct {
	Service       string   `json:"service"`
	Version       string   `json:"version"`
	Status        string   `json:"status"`
	Uptime        string   `json:"uptime"`
	UptimeSeconds int64    `json:"uptime_seconds"`
	Database      Database `json:"database"`
}

// Database tells whether PostgreSQL was reachable at the time of the request.
type Database struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// Handler serves /health.
type Handler struct {
	Service         string
	Version         string
	Started         time.Time
	DatabaseAddress string
	DatabaseProbe   Probe
	// Now is time.Now unless a test fixes the clock.
	Now func() time.Time
}

// Check builds the report for one request.
func (h *Handler) Check(ctx context.Context) Report {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	uptime := now().Sub(h.Started).Truncate(time.Second)
	report := Report{
		Service:       h.Service,
		Version:       h.Version,
		Status:        StatusOK,
		Uptime:        uptime.String(),
		UptimeSeconds: int64(uptime / time.Second),
		Database:      Database{Address: h.DatabaseAddress, Reachable: true},
	}
	if err := h.DatabaseProbe(ctx); err != nil {
		report.Status = StatusUnavailable
		report.Database.Reachable = false
		report.Database.Error = err.Error()
	}
	return report
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	report := h.Check(r.Context())
	code := http.StatusOK
	if report.Status != StatusOK {
		// 503 makes Docker's HEALTHCHECK, load balancers and the poller see the
		// outage without parsing the body.
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(report)
	}
}
