package compile

import "testing"

func TestStreamTableJoin(t *testing.T) {
	for _, typ := range []string{"inner", "left"} {
		t.Run(typ, func(t *testing.T) {
			c := build(t, `
name: enrich
sources:
  payments: payments
  accounts: {topic: accounts, table: true}
steps:
  - join:
      with: accounts
      type: `+typ+`
      on: card
      as: account
  - map: {card: card, amount: amount, owner: 'account == nil ? "unknown" : account.owner'}
to: out
sinks: {out: enriched}
`)
			h := drive(t, c)
			h.pipe("accounts", "c1", `{"owner":"ada","limit":100}`, 1)
			h.pipe("payments", "p1", `{"card":"c1","amount":10}`, 2)
			h.pipe("payments", "p2", `{"card":"c9","amount":20}`, 3)
			h.pipe("accounts", "c1", `{"owner":"bob","limit":100}`, 4) // table update: no output
			h.pipe("payments", "p3", `{"card":"c1","amount":30}`, 5)
			h.pipe("accounts", "c1", "", 6) // tombstone deletes the row
			h.pipe("payments", "p4", `{"card":"c1","amount":40}`, 7)
			want := []string{
				`c1 {"card":"c1","amount":10,"owner":"ada"}`,
				`c1 {"card":"c1","amount":30,"owner":"bob"}`,
			}
			if typ == "left" {
				want = []string{
					`c1 {"card":"c1","amount":10,"owner":"ada"}`,
					`c9 {"card":"c9","amount":20,"owner":"unknown"}`,
					`c1 {"card":"c1","amount":30,"owner":"bob"}`,
					`c1 {"card":"c1","amount":40,"owner":"unknown"}`,
				}
			}
			equalLines(t, "enriched", h.out("enriched"), want)
		})
	}
}

func TestStreamStreamJoin(t *testing.T) {
	c := build(t, `
name: match
sources:
  orders: orders
  shipments: {topic: shipments, key: order_id}
steps:
  - join:
      with: shipments
      within: 10m
      on: id
  - map: {id: id, carrier: shipments.carrier}
to: out
sinks: {out: shipped}
`)
	h := drive(t, c)
	h.pipe("orders", "", `{"id":"o1"}`, ms(0, 0))
	h.pipe("shipments", "", `{"order_id":"o1","carrier":"dhl"}`, ms(5, 0)) // within 10m
	h.pipe("orders", "", `{"id":"o2"}`, ms(6, 0))
	h.pipe("shipments", "", `{"order_id":"o2","carrier":"ups"}`, ms(30, 0)) // too far apart
	equalLines(t, "shipped", h.out("shipped"), []string{`o1 {"id":"o1","carrier":"dhl"}`})
}

func TestDedupe(t *testing.T) {
	c := build(t, `
name: once
sources: {in: payments}
steps:
  - dedupe: {key: payment_id, within: 10m}
to: out
sinks: {out: unique}
`)
	h := drive(t, c)
	h.pipe("payments", "", `{"payment_id":"p1","n":1}`, ms(0, 0))
	h.pipe("payments", "", `{"payment_id":"p1","n":2}`, ms(5, 0)) // duplicate within 10m
	h.pipe("payments", "", `{"payment_id":"p2","n":3}`, ms(6, 0))
	h.pipe("payments", "", `{"payment_id":"p1","n":4}`, ms(20, 0)) // 20m later: new
	equalLines(t, "unique", h.out("unique"), []string{
		`p1 {"n":1,"payment_id":"p1"}`,
		`p2 {"n":3,"payment_id":"p2"}`,
		`p1 {"n":4,"payment_id":"p1"}`,
	})
}

func TestStreamStreamOuterJoin(t *testing.T) {
	c := build(t, `
name: outer
sources:
  orders: orders
  shipments: {topic: shipments, key: order_id}
steps:
  - join: {with: shipments, type: outer, within: 1m, on: id}
  - map: {id: 'id ?? shipments.order_id', shipped: shipments != nil, ordered: id != nil}
to: out
sinks: {out: matched}
`)
	h := drive(t, c)
	h.pipe("orders", "", `{"id":"o1"}`, ms(0, 0))
	h.pipe("shipments", "", `{"order_id":"o1"}`, ms(0, 30))
	h.pipe("orders", "", `{"id":"o2"}`, ms(1, 0))           // never shipped
	h.pipe("shipments", "", `{"order_id":"o3"}`, ms(1, 10)) // never ordered
	h.pipe("orders", "", `{"id":"o9"}`, ms(10, 0))          // moves stream time: the windows close
	equalLines(t, "matched", h.out("matched"), []string{
		`o1 {"id":"o1","shipped":true,"ordered":true}`,
		`o2 {"id":"o2","shipped":false,"ordered":true}`,
		`o3 {"id":"o3","shipped":true,"ordered":false}`,
	})
}

func TestTableAsFrom(t *testing.T) {
	c := build(t, `
name: changes
sources:
  prices: {topic: prices, table: true}
from: prices
steps:
  - filter: price > 100
to: out
sinks: {out: expensive}
`)
	h := drive(t, c)
	h.pipe("prices", "a", `{"price":50}`, 1)
	h.pipe("prices", "b", `{"price":150}`, 2)
	h.pipe("prices", "a", `{"price":120}`, 3)
	h.pipe("prices", "b", "", 4) // a delete is not a record to filter
	equalLines(t, "expensive", h.out("expensive"), []string{`b {"price":150}`, `a {"price":120}`})
}
