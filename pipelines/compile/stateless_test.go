package compile

import "testing"

func TestFilterMapSet(t *testing.T) {
	c := build(t, `
name: readings
sources:
  in:
    topic: readings
    schema: {sensor_id: string, temperature: double, humidity: double}
steps:
  - filter: temperature > -50 && humidity <= 100
  - set:
      temp_f: temperature * 9 / 5 + 32
      humidity: humidity / 100
  - filter: temp_f >= 50
  - map:
      sensor: sensor_id
      temp_f: temp_f
      humid: humidity > 0.5
      site: 'sensor_id[0:2]'
to: out
sinks:
  out: converted
`)
	h := drive(t, c)
	h.pipe("readings", "s1", `{"sensor_id":"s1","temperature":20,"humidity":60}`, 1000)
	h.pipe("readings", "s2", `{"sensor_id":"s2","temperature":-60,"humidity":60}`, 1000)  // filtered: too cold
	h.pipe("readings", "s3", `{"sensor_id":"s3","temperature":5,"humidity":40}`, 1000)    // filtered: temp_f 41
	h.pipe("readings", "s4", `{"sensor_id":"s4","temperature":10,"humidity":30.5}`, 1000) // 50°F, kept
	equalLines(t, "converted", h.out("converted"), []string{
		`s1 {"sensor":"s1","temp_f":68,"humid":true,"site":"s1"}`,
		`s4 {"sensor":"s4","temp_f":50,"humid":false,"site":"s4"}`,
	})
}

func TestKeyBy(t *testing.T) {
	c := build(t, `
name: rekey
sources: {in: events}
steps:
  - key_by: site + "/" + string(floor)
to: out
sinks: {out: by-site}
`)
	h := drive(t, c)
	h.pipe("events", "k", `{"site":"north","floor":3}`, 1)
	h.pipe("events", "", `{"site":"south","floor":1.5}`, 2)
	equalLines(t, "by-site", h.out("by-site"), []string{
		`north/3 {"floor":3,"site":"north"}`,
		`south/1.5 {"floor":1.5,"site":"south"}`,
	})
}

func TestRecordErrorsSkippedAndDeadLettered(t *testing.T) {
	c := build(t, `
name: strict
dead_letter_topic: strict-dlq
sources: {in: events}
steps:
  - filter: amount > 10
  - map: {ratio: 100 / amount, id: id}
to: out
sinks: {out: big}
`)
	h := drive(t, c)
	h.pipe("events", "a", `{"id":"a","amount":50}`, 1)
	h.pipe("events", "b", `{"id":"b","amount":"lots"}`, 2) // string > int: error
	h.pipe("events", "c", `{"id":"c"}`, 3)                 // nil > int: error
	h.pipe("events", "d", `{"id":"d","amount":5}`, 4)      // filtered
	equalLines(t, "big", h.out("big"), []string{`a {"ratio":2,"id":"a"}`})
	dlq := h.out("strict-dlq")
	if len(dlq) != 2 {
		t.Fatalf("dead letters: %v", dlq)
	}
	equalLines(t, "dead letter b", dlq[:1], []string{`b {"pipeline":"strict","at":"test.yaml:6:13","step":"filter step","error":"invalid operation: string > int","record":{"amount":"lots","id":"b"}}`})
	if c.Errors.Total() != 2 {
		t.Errorf("errors counted: %d, want 2", c.Errors.Total())
	}
}

func TestRoute(t *testing.T) {
	c := build(t, `
name: router
sources: {in: readings}
steps:
  - route:
      - name: hot
        when: temperature > 80
        steps:
          - map: {sensor: sensor_id, alert: '"too hot: " + string(temperature)'}
        to: alerts
      - when: temperature < 0
        to: [alerts, cold]
      - to: normal
sinks:
  alerts: alerts
  cold: cold
  normal: normal
`)
	h := drive(t, c)
	h.pipe("readings", "s1", `{"sensor_id":"s1","temperature":90}`, 1)
	h.pipe("readings", "s2", `{"sensor_id":"s2","temperature":-5}`, 2)
	h.pipe("readings", "s3", `{"sensor_id":"s3","temperature":20}`, 3)
	equalLines(t, "alerts", h.out("alerts"), []string{`s1 {"sensor":"s1","alert":"too hot: 90"}`, `s2 {"sensor_id":"s2","temperature":-5}`})
	equalLines(t, "cold", h.out("cold"), []string{`s2 {"sensor_id":"s2","temperature":-5}`})
	equalLines(t, "normal", h.out("normal"), []string{`s3 {"sensor_id":"s3","temperature":20}`})
}
