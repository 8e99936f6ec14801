// Command claude-terminal-service is a stand-in for the real service: an HTTP
// server on PORT whose GET /health reports whether PostgreSQL is reachable.
//
// With -healthcheck it instead asks a running instance for /health and exits 0
// on 200, so a Docker HEALTHCHECK needs no curl in the image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"example.com/claude-terminal-service/internal/health"
	"example.com/claude-terminal-service/internal/logging"
)

const serviceName = "claude-terminal-service"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	// databaseTimeout stays well under the image's HEALTHCHECK timeout (10s),
	// so a silent database yields a 503 rather than a timed-out check.
	databaseTimeout = 2 * time.Second
	shutdownTimeout = 10 * time.Second
)

type config struct {
	port     string
	dbHost   string
	dbPort   string
	logLevel logging.Level
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		port:   valueOr(getenv("PORT"), "3000"),
		dbHost: valueOr(getenv("DB_HOST"), "localhost"),
		dbPort: valueOr(getenv("DB_PORT"), "5432"),
	}
	if err := checkPort("PORT", cfg.port); err != nil {
		return cfg, err
	}
	if err := checkPort("DB_PORT", cfg.dbPort); err != nil {
		return cfg, err
	}
	level, err := logging.ParseLevel(getenv("LOG_LEVEL"))
	cfg.logLevel = level
	return cfg, err
}

func valueOr(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

func checkPort(name, value string) error {
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s %q is not a TCP port: use a number from 1 to 65535", name, value)
	}
	return nil
}

func main() {
	healthcheck := flag.Bool("healthcheck", false,
		"ask the instance on 127.0.0.1:$PORT for /health and exit 0 if it answers 200")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Println(serviceName, version)
		return
	}

	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", serviceName, err)
		os.Exit(2)
	}

	if *healthcheck {
		os.Exit(checkSelf(cfg.port))
	}

	if err := serve(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", serviceName, err)
		os.Exit(1)
	}
}

func serve(cfg config) error {
	log := logging.New(os.Stdout, cfg.logLevel)
	dbAddress := net.JoinHostPort(cfg.dbHost, cfg.dbPort)
	mux := http.NewServeMux()
	mux.Handle("/health", &health.Handler{
		Service:         serviceName,
		Version:         version,
		Started:         time.Now(),
		DatabaseAddress: dbAddress,
		DatabaseProbe:   health.DialProbe(dbAddress, databaseTimeout),
	})

	listener, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		return fmt.Errorf("cannot listen on port %s: %w", cfg.port, err)
	}
	server := &http.Server{
		Handler:           logRequests(log, mux),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// SIGTERM is what `docker stop` sends; SIGINT covers a terminal.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	log.Info("listening", logging.Fields{
		"address": listener.Addr().String(), "version": version, "database": dbAddress,
	})

	select {
	case err := <-served:
		return fmt.Errorf("HTTP server stopped: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", logging.Fields{"timeout": shutdownTimeout})
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("requests still open after %s: %w", shutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("HTTP server stopped: %w", err)
	}
	log.Info("stopped", nil)
	return nil
}

// statusRecorder remembers the status code for the request log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func logRequests(log *logging.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info("request", logging.Fields{
			"method":      r.Method,
			"path":        r.URL.Path,
			"status":      rec.status,
			"duration_ms": logging.Millis(time.Since(started)),
			"remote":      r.RemoteAddr,
		})
	})
}

func checkSelf(port string) int {
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://127.0.0.1:" + port + "/health"
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}
