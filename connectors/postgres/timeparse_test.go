package postgres

import (
	"testing"
	"time"
)

// FuzzFastTimestamp checks the fast timestamp parser against time.Parse:
// whatever it accepts, time.Parse reads as the same instant.
func FuzzFastTimestamp(f *testing.F) {
	for _, s := range []string{"2024-02-29T23:59:59.123456Z", "2024-02-29 23:59:59+05:30", "1999-12-31T23:59:59.9999995Z",
		"0001-01-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T00:00:00-0130", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, keepWall := range []bool{false, true} {
			us, ok := fastTimestamp(s, keepWall)
			if !ok {
				continue
			}
			var tm time.Time
			var err error
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07",
				"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z0700",
				"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999"} {
				if tm, err = time.Parse(layout, s); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("%q: fast parser accepted, time.Parse: %v", s, err)
			}
			if keepWall {
				y, mo, d := tm.Date()
				h, mi, sec := tm.Clock()
				tm = time.Date(y, mo, d, h, mi, sec, tm.Nanosecond(), time.UTC)
			}
			want := tm.Unix()*1_000_000 + int64(tm.Nanosecond()/1000)
			if diff := us - want; diff < 0 || diff > 1 {
				t.Fatalf("%q (wall %v): fast %d, time.Parse %d", s, keepWall, us, want)
			}
		}
	})
}
