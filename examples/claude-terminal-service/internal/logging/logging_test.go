package logging

import (
	"bytes"
	"testing"
	"time"
)

func TestLineIsLogfmtWithQuotedValues(t *testing.T) {
	var out bytes.Buffer
	log := New(&out, Info)
	log.now = func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) }

	log.Warn("poll", Fields{"status": 503, "error": `dial tcp: "refused"`})
	log.Log(Debug, "dropped below info", nil)

	want := `time=2026-12-03T10:00:00Z level=warn msg=poll error="dial tcp: \"refused\"" status=503` + "\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

func TestParseLevel(t *testing.T) {
	if level, err := ParseLevel("WARN"); err != nil || level != Warn {
		t.Errorf("ParseLevel(WARN) = %v, %v", level, err)
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Error("ParseLevel(verbose) succeeded")
	}
}

func TestMillis(t *testing.T) {
	if got := Millis(1234567 * time.Nanosecond); got != "1.235" {
		t.Errorf("Millis = %q, want 1.235", got)
	}
}
