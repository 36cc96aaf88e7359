package compile

import (
	"testing"
	"time"
)

// ms is a timestamp at minute m, second s of a fixed day.
func ms(m, s int) int64 {
	return time.Date(2026, 11, 22, 0, m, s, 0, time.UTC).UnixMilli()
}

func TestTumblingWindowEmitOnClose(t *testing.T) {
	c := build(t, `
name: averages
sources:
  readings:
    topic: readings
    schema: {sensor_id: string, temperature: double}
steps:
  - key_by: sensor_id
  - window:
      type: tumbling
      size: 1m
      grace: 10s
      aggregates:
        n: count()
        avg_temp: avg(temperature)
        min_temp: min(temperature)
        max_temp: max(temperature)
        total: sum(temperature)
        first: first(temperature)
        last: last(temperature)
        distinct: count_distinct(temperature)
        median: percentile(temperature, 50)
to: out
sinks: {out: averages}
`)
	h := drive(t, c)
	h.pipe("readings", "", `{"sensor_id":"a","temperature":20}`, ms(0, 5))
	h.pipe("readings", "", `{"sensor_id":"a","temperature":22}`, ms(0, 30))
	h.pipe("readings", "", `{"sensor_id":"b","temperature":10}`, ms(0, 40))
	h.pipe("readings", "", `{"sensor_id":"a","temperature":30}`, ms(0, 50))
	h.pipe("readings", "", `{"sensor_id":"a","temperature":40}`, ms(1, 5)) // next window; [0,1m) is still in grace
	if got := h.out("averages"); len(got) != 0 {
		t.Fatalf("emitted before the window closed: %v", got)
	}
	h.pipe("readings", "", `{"sensor_id":"b","temperature":12}`, ms(0, 55)) // late but within grace
	h.pipe("readings", "", `{"sensor_id":"a","temperature":25}`, ms(1, 11)) // stream time passes 1m10s: [0,1m) closes
	h.pipe("readings", "", `{"sensor_id":"b","temperature":99}`, ms(0, 59)) // too late: dropped
	equalLines(t, "averages", h.out("averages"), []string{
		`a {"key":"a","window_start":"2026-11-22T00:00:00Z","window_end":"2026-11-22T00:01:00Z","n":3,"avg_temp":24,"min_temp":20,"max_temp":30,"total":72,"first":20,"last":30,"distinct":3,"median":22}`,
		`b {"key":"b","window_start":"2026-11-22T00:00:00Z","window_end":"2026-11-22T00:01:00Z","n":2,"avg_temp":11,"min_temp":10,"max_temp":12,"total":22,"first":10,"last":12,"distinct":2,"median":10}`,
	})
}

func TestHoppingWindowOnUpdate(t *testing.T) {
	c := build(t, `
name: hop
sources: {in: clicks}
steps:
  - window:
      type: hopping
      size: 2m
      advance: 1m
      emit: on_update
      aggregates: {clicks: count()}
  - filter: clicks >= 2
to: out
sinks: {out: busy}
`)
	h := drive(t, c)
	h.pipe("clicks", "u1", `{}`, ms(1, 30)) // windows [0,2m) and [1m,3m)
	h.pipe("clicks", "u1", `{}`, ms(2, 30)) // windows [1m,3m) and [2m,4m)
	h.pipe("clicks", "u2", `{}`, ms(2, 31))
	equalLines(t, "busy", h.out("busy"), []string{
		`u1 {"key":"u1","window_start":"2026-11-22T00:01:00Z","window_end":"2026-11-22T00:03:00Z","clicks":2}`,
	})
}

func TestSlidingWindowVelocity(t *testing.T) {
	c := build(t, `
name: velocity
sources: {payments: payments}
steps:
  - key_by: card
  - window:
      type: sliding
      size: 5m
      emit: on_update
      aggregates:
        payments: count()
        spent: sum(amount)
  - filter: payments > 2
  - map: {card: key, payments: payments, spent: spent}
to: out
sinks: {out: flagged}
`)
	h := drive(t, c)
	h.pipe("payments", "", `{"card":"c1","amount":10}`, ms(0, 0))
	h.pipe("payments", "", `{"card":"c1","amount":20}`, ms(2, 0))
	h.pipe("payments", "", `{"card":"c2","amount":5}`, ms(2, 30))
	h.pipe("payments", "", `{"card":"c1","amount":30}`, ms(4, 0))  // third within 5m: flagged
	h.pipe("payments", "", `{"card":"c1","amount":40}`, ms(9, 30)) // the others are older than 5m
	equalLines(t, "flagged", h.out("flagged"), []string{`c1 {"card":"c1","payments":3,"spent":60}`})
}

func TestSessionWindow(t *testing.T) {
	c := build(t, `
name: sessions
sources: {in: visits}
steps:
  - window:
      type: session
      gap: 5m
      aggregates: {pages: count(), last_page: last(page)}
to: out
sinks: {out: sessions}
`)
	h := drive(t, c)
	h.pipe("visits", "v", `{"page":"a"}`, ms(0, 0))
	h.pipe("visits", "v", `{"page":"b"}`, ms(3, 0))
	h.pipe("visits", "v", `{"page":"c"}`, ms(20, 0)) // closes the first session
	equalLines(t, "sessions", h.out("sessions"), []string{
		`v {"key":"v","window_start":"2026-11-22T00:00:00Z","window_end":"2026-11-22T00:03:00Z","pages":2,"last_page":"b"}`,
	})
}

// first and last follow event time, not arrival order, also across the
// sessions a late record bridges.
func TestFirstLastFollowEventTime(t *testing.T) {
	c := build(t, `
name: firstlast
sources: {in: events}
steps:
  - window:
      type: tumbling
      size: 1m
      grace: 30s
      aggregates: {first: first(v), last: last(v)}
to: out
sinks: {out: fl}
`)
	h := drive(t, c)
	h.pipe("events", "k", `{"v":"b"}`, ms(0, 30))
	h.pipe("events", "k", `{"v":"a"}`, ms(0, 10)) // out of order: the first by event time
	h.pipe("events", "k", `{"v":"d"}`, ms(0, 50))
	h.pipe("events", "k", `{"v":"c"}`, ms(0, 40)) // arrives last, is not the last
	h.pipe("events", "k", `{"v":"x"}`, ms(2, 0))  // closes [0,1m)
	equalLines(t, "fl", h.out("fl"), []string{
		`k {"key":"k","window_start":"2026-11-22T00:00:00Z","window_end":"2026-11-22T00:01:00Z","first":"a","last":"d"}`,
	})

	c = build(t, `
name: sessionfl
sources: {in: events}
steps:
  - window:
      type: session
      gap: 3m
      grace: 10m
      aggregates: {first: first(v), last: last(v), n: count()}
to: out
sinks: {out: sfl}
`)
	h = drive(t, c)
	h.pipe("events", "k", `{"v":"late-end"}`, ms(5, 0))
	h.pipe("events", "k", `{"v":"start"}`, ms(0, 0))
	h.pipe("events", "k", `{"v":"bridge"}`, ms(2, 30)) // merges [0,0] and [5m,5m]
	h.pipe("events", "k", `{"v":"z"}`, ms(30, 0))      // closes the session
	equalLines(t, "sfl", h.out("sfl"), []string{
		`k {"key":"k","window_start":"2026-11-22T00:00:00Z","window_end":"2026-11-22T00:05:00Z","first":"start","last":"late-end","n":3}`,
	})
}
