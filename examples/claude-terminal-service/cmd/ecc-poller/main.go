// Command ecc-poller is a stand-in for the real ECC Queue poller: it asks
// claude-terminal-service for /health every POLL_INTERVAL and logs each answer
// on one line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"example.com/claude-terminal-service/internal/logging"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// maxRequestTimeout keeps a hung service from delaying the next poll for long.
const maxRequestTimeout = 10 * time.Second

type config struct {
	url      string
	interval time.Duration
	logLevel logging.Level
}

func loadConfig(getenv func(string) string) (config, error) {
	var cfg config
	host := getenv("NODE_SERVICE_HOST")
	if host == "" {
		return cfg, errors.New("NODE_SERVICE_HOST is not set: set it to the host name of claude-terminal-service")
	}
	port := getenv("NODE_SERVICE_PORT")
	if port == "" {
		port = "3000"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return cfg, fmt.Errorf("NODE_SERVICE_PORT %q is not a TCP port: use a number from 1 to 65535", port)
	}
	cfg.url = "http://" + net.JoinHostPort(host, port) + "/health"

	interval, err := parseInterval(getenv("POLL_INTERVAL"))
	if err != nil {
		return cfg, err
	}
	cfg.interval = interval

	cfg.logLevel, err = logging.ParseLevel(getenv("LOG_LEVEL"))
	return cfg, err
}

// parseInterval accepts a Go duration ("10s", "1m") or a bare number of seconds,
// the form most .env files use.
func parseInterval(text string) (time.Duration, error) {
	if text == "" {
		return 10 * time.Second, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		seconds, convErr := strconv.Atoi(text)
		if convErr != nil {
			return 0, fmt.Errorf("POLL_INTERVAL %q is not a duration: use a value such as 10s or 1m", text)
		}
		d = time.Duration(seconds) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("POLL_INTERVAL %q is not positive: use a value such as 10s or 1m", text)
	}
	return d, nil
}

// result is what one poll saw.
type result struct {
	status  int
	health  string
	latency time.Duration
	err     error
}

func (r result) fields(url string) logging.Fields {
	f := logging.Fields{"url": url, "latency_ms": logging.Millis(r.latency)}
	if r.err != nil {
		f["error"] = r.err.Error()
		return f
	}
	f["status"] = r.status
	if r.health != "" {
		f["health"] = r.health
	}
	return f
}

func poll(ctx context.Context, client *http.Client, url string) result {
	started := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err, latency: time.Since(started)}
	}
	defer resp.Body.Close()
	// The body's status ("ok", "unavailable") says why a 503 happened; a body
	// that is not the service's JSON is still a result worth logging.
	var body struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	return result{status: resp.StatusCode, health: body.Status, latency: time.Since(started)}
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecc-poller: %v\n", err)
		os.Exit(2)
	}
	log := logging.New(os.Stdout, cfg.logLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	timeout := cfg.interval
	if timeout > maxRequestTimeout {
		timeout = maxRequestTimeout
	}
	client := &http.Client{Timeout: timeout}
	log.Info("polling", logging.Fields{"url": cfg.url, "interval": cfg.interval, "version": version})

	pollUntilDone(ctx, log, client, cfg)
	log.Info("stopped", nil)
}

func pollUntilDone(ctx context.Context, log *logging.Logger, client *http.Client, cfg config) {
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	for {
		r := poll(ctx, client, cfg.url)
		if ctx.Err() != nil {
			// A poll cut short by SIGTERM is not a failure of the service.
			return
		}
		if r.err != nil || r.status != http.StatusOK {
			log.Warn("poll", r.fields(cfg.url))
		} else {
			log.Info("poll", r.fields(cfg.url))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
