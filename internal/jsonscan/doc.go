// Package jsonscan is the one JSON scanner of Sluice's per-record hot
// paths: the file connector's JSON-lines validation, the Postgres sink's
// record values, JSON → Arrow conversion and schema inference, and the YAML
// pipelines' record decoder. It replaces four hand-written scanners that
// did the same thing four times.
//
// What it offers, all without allocating on the success path unless a
// value must be built:
//
//   - Valid and Validate: exactly encoding/json's grammar (RFC 8259, with
//     invalid UTF-8 inside strings accepted, as encoding/json accepts it),
//     with errors that say what is wrong and at which byte;
//   - EachMember and EachElement: an object's members in document order
//     (repeated names included) or an array's elements, as validated
//     slices of the input, so callers convert values straight from the
//     bytes and keep nested values as text;
//   - Plain, Unquote, Name: strings, decoded as encoding/json decodes them
//     (escapes, surrogate pairs, U+FFFD for invalid UTF-8), with no copy
//     when a string needs no decoding;
//   - Int, Uint, Float, IsInteger: numbers exactly — int64 and uint64
//     without a detour through float64, float64 as encoding/json rounds
//     it — while callers that need decimal text keep the literal itself;
//   - Decoder: whole values into map[string]any / []any / float64 ..., the
//     same values encoding/json gives an `any`, in one pass.
//
// Every function takes a nesting limit (or uses MaxDepth, encoding/json's),
// so hostile input cannot exhaust the stack or memory; nested values are
// walked with an explicit stack. FuzzMatchesEncodingJSON checks all of it
// against encoding/json.
//
// # Why not a library
//
// The project prefers well-kept libraries to hand-written code, so before
// writing this the candidates were measured on the hot paths' own inputs
// (instructions per operation under callgrind, which the shared build
// machine's load does not disturb; wall-clock agreed where it was quiet):
//
//	                          hand-written  fastjson 1.6.10  go-json-experiment  goccy/go-json 0.10.3
//	validate a JSON line          1,604      2,244 (+40%)      3,506 (+119%)     18,632 (+1060%)
//	object members, raw values    2,816      5,423 (+93%)      5,677 (+102%)     11,956 (map, no order)
//	decode to map[string]any     12,664     16,889 (+33%)     32,953 (+160%)     17,186 (+36%)
//
// None comes within the 10% the hot paths can give up, and each also
// misses something they need: fastjson's parser is lax (it takes 01, 1.
// and nan; exactness needs its validator as a second pass) and keeps no
// raw text of values; goccy/go-json decodes only into Go values (no
// document order, no raw spans); go-json-experiment/jsontext (the coming
// encoding/json/v2) is exact but twice the cost per token. So the four
// scanners became this one package instead. encoding/json itself is what
// the fuzz test compares against, and remains the slow path nowhere.
package jsonscan
