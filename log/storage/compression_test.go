package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
)

func TestCompressionRoundTripAndLimits(t *testing.T) {
	data := bytes.Repeat([]byte("sluice records compress well. "), 5000)
	for codec := codecNone; codec <= codecZstd; codec++ {
		c, err := compress(codec, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decompress(codec, c, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("codec %d: round trip failed: %v", codec, err)
		}
		if codec != codecNone {
			// One byte under the decompressed size: refused, not truncated.
			if _, err := decompress(codec, c, len(data)-1); !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("codec %d: limit not enforced: %v", codec, err)
			}
			if _, err := decompress(codec, c[:len(c)/2], len(data)); err == nil {
				t.Fatalf("codec %d: truncated input accepted", codec)
			}
		}
	}
	// librdkafka and franz-go send a bare snappy block; Java clients use
	// xerial framing (which compress writes). Both must decode.
	raw := snappy.Encode(nil, data)
	if got, err := decompress(codecSnappy, raw, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("raw snappy: %v", err)
	}
	if _, err := decompress(7, data, len(data)); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("unknown codec: %v", err)
	}
}
