// Package schema is the common type system of Sluice's connectors: Apache
// Arrow schemas (github.com/apache/arrow/go/v17) describe record values, and
// this package converts between JSON records and Arrow record batches.
//
// # Types
//
// Connectors map their native types onto this set (PostgreSQL → Arrow in
// connectors/postgres, Arrow → Parquet in connectors/parquet):
//
//	bool, int8..int64, uint8..uint64   JSON booleans and numbers
//	float32, float64                   JSON numbers; "NaN", "Infinity", "-Infinity" as strings
//	string                             JSON strings (other scalars are accepted as their text)
//	binary, fixed_size_binary(n)       base64 strings
//	decimal128(p, s)                   exact: JSON numbers or strings ("12.30"); PostgreSQL numeric
//	timestamp[us, UTC]                 RFC 3339 strings, or epoch milliseconds; timestamptz
//	timestamp[us] (no zone)            RFC 3339 without offset; PostgreSQL timestamp
//	date32                             "2006-01-02", or days since the epoch
//	time64[us]                         "15:04:05.999999"
//	uuid (extension arrow.uuid)        "123e4567-e89b-12d3-a456-426614174000", stored as fixed_size_binary(16)
//	json (extension arrow.json)        any JSON value, stored as its compact text in a string; jsonb
//	list<T>                            JSON arrays; PostgreSQL arrays
//	struct<a: T, ...>                  JSON objects with known fields
//
// UUID and JSON are Arrow canonical extension types ("arrow.uuid",
// "arrow.json"); use UUID(), JSON(), IsUUID and IsJSON rather than comparing
// storage types.
//
// # Wire form
//
// A schema travels with records in the connectors.SchemaHeader header as the
// compact JSON produced by MarshalSchema, e.g.
//
//	{"fields":[{"name":"id","type":"int64"},{"name":"amount","type":"decimal128(12,2)","nullable":true}]}
//
// Type names are the ones TypeName returns and ParseType accepts.
package schema
