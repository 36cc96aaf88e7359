package parquet

import (
	"reflect"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
)

// parquet-go's column buffers take whole slices of a column's physical type
// (parquet.Int64Writer, DoubleWriter, FixedLenByteArrayWriter, ...): one
// memmove where the public ColumnWriter API, WriteRowValues, wants a
// parquet.Value (24 bytes, with a pointer) built and then gathered back per
// value. An Arrow column already is such a slice. But the ColumnWriter does
// not expose the buffer its pages are cut from: the typed writer
// (GenericWriter[T]) reaches it through unexported methods.
//
// columnBufferOf reads that one unexported field. It is located by name and
// type when the package loads; if a parquet-go upgrade renames it or changes
// its type, the lookup fails, the columnar path switches itself off, and the
// sink keeps working through WriteRowValues (TestColumnarPathAvailable fails
// so the upgrade is noticed). Writing into the buffer is otherwise what
// WriteRowValues does: create the buffer (done by WriteRowValues with no
// values), append to it, and cut a page when it is full (again WriteRowValues
// with no values, after the append, so pages end where they would have).
// Every path that writes through it is checked against the per-value paths,
// byte for byte, by TestColumnarMatchesPerValue.

// columnBufferOffset is the offset of ColumnWriter.columnBuffer, or -1.
var columnBufferOffset = func() uintptr {
	f, ok := reflect.TypeFor[pq.ColumnWriter]().FieldByName("columnBuffer")
	if !ok || f.Type != reflect.TypeFor[pq.ColumnBuffer]() || len(f.Index) != 1 {
		return ^uintptr(0)
	}
	return f.Offset
}()

// noValues is an empty, non-nil slice for WriteRowValues calls that only
// create the buffer or cut a page: parquet-go computes field addresses from
// the slice's data pointer, which must not be nil (checkptr, under -race,
// rejects nil plus an offset).
var noValues = make([]pq.Value, 1)[:0]

// columnarAvailable reports whether columnBufferOf works with this version of
// parquet-go.
func columnarAvailable() bool { return columnBufferOffset != ^uintptr(0) }

// columnBufferOf returns the buffer the column writer is filling, creating it
// if needed. It returns nil when the columnar path is unavailable.
func columnBufferOf(cw *pq.ColumnWriter) (pq.ColumnBuffer, error) {
	if !columnarAvailable() {
		return nil, nil
	}
	field := (*pq.ColumnBuffer)(unsafe.Add(unsafe.Pointer(cw), columnBufferOffset))
	if *field == nil {
		// The writer creates its buffer lazily, on the first write.
		if _, err := cw.WriteRowValues(noValues); err != nil {
			return nil, err
		}
	}
	return *field, nil
}
