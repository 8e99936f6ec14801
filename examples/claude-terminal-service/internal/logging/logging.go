// Package logging writes one line per event in logfmt (key=value) so that
// `docker logs` output stays greppable without a log shipper.
package logging

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Level orders messages; lower levels are dropped below the configured one.
type Level int

// The levels LOG_LEVEL accepts.
const (
	Debug Level = iota
	Info
	Warn
	Error
)

var levelNames = map[string]Level{"debug": Debug, "info": Info, "warn": Warn, "error": Error}

func (l Level) String() string {
	switch l {
	case Debug:
		return "debug"
	case Info:
		return "info"
	case Warn:
		return "warn"
	case Error:
		return "error"
	}
	return "unknown"
}

// ParseLevel reads LOG_LEVEL; an empty value means info.
func ParseLevel(text string) (Level, error) {
	if text == "" {
		return Info, nil
	}
	level, ok := levelNames[strings.ToLower(strings.TrimSpace(text))]
	if !ok {
		return Info, fmt.Errorf("LOG_LEVEL %q is not a log level: use debug, info, warn or error", text)
	}
	return level, nil
}

// Fields are the key=value pairs of one line, written in key order.
type Fields map[string]interface{}

// Logger is safe for concurrent use: request handlers log from many goroutines.
type Logger struct {
	mu  sync.Mutex
	out io.Writer
	min Level
	now func() time.Time
}

// New returns a Logger writing lines at or above min to out.
func New(out io.Writer, min Level) *Logger {
	return &Logger{out: out, min: min, now: time.Now}
}

// Log writes msg and fields on one line when level is enabled.
func (g *Logger) Log(level Level, msg string, fields Fields) {
	if level < g.min {
		return
	}
	var b strings.Builder
	b.WriteString("time=")
	b.WriteString(g.now().UTC().Format(time.RFC3339Nano))
	b.WriteString(" level=")
	b.WriteString(level.String())
	b.WriteString(" msg=")
	b.WriteString(quote(msg))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quote(fmt.Sprint(fields[k])))
	}
	b.WriteByte('\n')
	g.mu.Lock()
	defer g.mu.Unlock()
	_, _ = io.WriteString(g.out, b.String())
}

// Info logs at info level.
func (g *Logger) Info(msg string, fields Fields) { g.Log(Info, msg, fields) }

// Warn logs at warn level.
func (g *Logger) Warn(msg string, fields Fields) { g.Log(Warn, msg, fields) }

// Error logs at error level.
func (g *Logger) Error(msg string, fields Fields) { g.Log(Error, msg, fields) }

// quote leaves simple values bare and quotes the rest, so a value with spaces
// (an error text) cannot be mistaken for further fields.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=\\") || strings.IndexFunc(s, isControl) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Millis renders a duration as milliseconds with microsecond precision: one
// unit in every line keeps the logs easy to sort and graph (Duration.String
// switches units and writes "µs").
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
