package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Batches are stored compressed exactly as producers sent them; the
// engine only decompresses to look inside (compaction, timestamp lookup)
// and compresses again when compaction rewrites a batch.

// xerialHeader starts snappy data framed by Java clients (xerial
// snappy-java): magic, then version and compatible version, then blocks of
// big-endian int32 length + snappy block.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	return e
})

// decompress returns the records section of a batch in uncompressed form,
// refusing to produce more than limit bytes.
func decompress(codec int, data []byte, limit int) ([]byte, error) {
	switch codec {
	case codecNone:
		return data, nil
	case codecGzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, corrupt("gzip: %v", err)
		}
		return readLimited(r, limit, "gzip")
	case codecSnappy:
		if bytes.HasPrefix(data, xerialHeader) && len(data) >= 16 {
			var out []byte
			for b := data[16:]; len(b) > 0; {
				if len(b) < 4 {
					return nil, corrupt("snappy: truncated xerial block length")
				}
				n := int(binary.BigEndian.Uint32(b))
				b = b[4:]
				if n < 0 || n > len(b) {
					return nil, corrupt("snappy: xerial block of %d bytes, %d present", n, len(b))
				}
				dl, err := snappy.DecodedLen(b[:n])
				if err != nil || dl < 0 || len(out)+dl > limit {
					return nil, corrupt("snappy: bad or oversized block (%d bytes)", dl)
				}
				d, err := snappy.Decode(nil, b[:n])
				if err != nil {
					return nil, corrupt("snappy: %v", err)
				}
				out = append(out, d...)
				b = b[n:]
			}
			return out, nil
		}
		dl, err := snappy.DecodedLen(data)
		if err != nil || dl < 0 || dl > limit {
			return nil, corrupt("snappy: bad or oversized block (%d bytes)", dl)
		}
		d, err := snappy.Decode(nil, data)
		if err != nil {
			return nil, corrupt("snappy: %v", err)
		}
		return d, nil
	case codecLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(data)), limit, "lz4")
	case codecZstd:
		// Stream through a limited reader: DecodeAll cannot be bounded.
		d, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, corrupt("zstd: %v", err)
		}
		defer d.Close()
		return readLimited(d, limit, "zstd")
	}
	return nil, corrupt("unknown compression codec %d", codec)
}

func readLimited(r io.Reader, limit int, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, corrupt("%s: %v", name, err)
	}
	if len(out) > limit {
		return nil, corrupt("%s: decompresses to more than %d bytes", name, limit)
	}
	return out, nil
}

// compress compresses an uncompressed records section with codec, in the
// framing every Kafka client reads (xerial framing for snappy, the LZ4
// frame format for lz4).
func compress(codec int, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case codecNone:
		return data, nil
	case codecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case codecSnappy:
		buf.Write(xerialHeader)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		const block = 32 << 10
		for len(data) > 0 {
			n := min(block, len(data))
			enc := snappy.Encode(nil, data[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(enc))))
			buf.Write(enc)
			data = data[n:]
		}
	case codecLZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case codecZstd:
		return zstdEncoder().EncodeAll(data, nil), nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	return buf.Bytes(), nil
}
