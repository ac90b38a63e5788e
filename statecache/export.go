package statecache

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// Export and Import move a whole state from one backend to another, as a
// stream of the key-value records both backends keep alike: a single node's
// Badger directory moves into PostgreSQL with every sync key, id map and
// window as it was, so phones go on with the keys they hold.
//
// The stream: the line "easgate-state 1\n"; then per record the key's
// length (uvarint), the key, the value's length (uvarint) and the value;
// then a zero length (no key is empty), the record count (uvarint) and the
// CRC-32 (IEEE, big endian) of every byte after the header line.

const exportHeader = "easgate-state 1\n"

// Limits of a record in a stream, far above what a Store writes (keys are a
// few hundred bytes, the largest values windows of a few megabytes), so
// that a damaged stream cannot make Import allocate without bound.
const (
	maxExportKey   = 64 << 10
	maxExportValue = 64 << 20
)

// importBatch bounds one Import transaction: Badger refuses transactions
// past about 15% of its 4 MiB memtable.
const (
	importBatchRecords = 500
	importBatchBytes   = 256 << 10
)

// ErrBadExport reports a stream that Export did not write, or that was cut
// or damaged.
var ErrBadExport = errors.New("statecache: not a complete easgate state export")

// Export writes every record of the store to w, read from one snapshot,
// and returns how many it wrote. The store may serve requests meanwhile;
// their writes after the snapshot are not in the stream, so stop the
// gateway first to move a state.
func (s *Store) Export(ctx context.Context, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(exportHeader); err != nil {
		return 0, err
	}
	h := crc32.NewIEEE()
	out := io.MultiWriter(bw, h)
	n := 0
	var lenBuf [binary.MaxVarintLen64]byte
	put := func(b []byte) error {
		if _, err := out.Write(binary.AppendUvarint(lenBuf[:0], uint64(len(b)))); err != nil {
			return err
		}
		_, err := out.Write(b)
		return err
	}
	err := s.view(ctx, func(txn kvTxn) error {
		n = 0
		return txn.scan([]byte{}, nil, 0, func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := put(k); err != nil {
				return err
			}
			n++
			return put(v)
		})
	})
	if err != nil {
		return n, fmt.Errorf("statecache: export: %w", err)
	}
	out.Write(binary.AppendUvarint(lenBuf[:0], 0))
	out.Write(binary.AppendUvarint(lenBuf[:0], uint64(n)))
	if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, h.Sum32())); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// ImportOptions change what Import accepts.
type ImportOptions struct {
	// Overwrite lets Import write into a store that is not empty,
	// replacing records with the same key; for an import that stopped
	// half-way and is run again. Records of the store that the stream
	// lacks stay.
	Overwrite bool
}

// Import writes the records of a stream that Export wrote into s, which
// must be empty unless o.Overwrite, and returns how many it wrote. It
// writes in batches: a stream that turns out damaged half-way leaves the
// records before the damage, and the error says so. o may be nil.
func (s *Store) Import(ctx context.Context, r io.Reader, o *ImportOptions) (int, error) {
	if o == nil || !o.Overwrite {
		empty := true
		err := s.view(ctx, func(txn kvTxn) error {
			return txn.scan([]byte{}, nil, 1, func(_, _ []byte) error { empty = false; return nil })
		})
		if err != nil {
			return 0, fmt.Errorf("statecache: import: %w", err)
		}
		if !empty {
			return 0, errors.New("statecache: import: the target state is not empty (import into a new database or directory)")
		}
	}
	var (
		batch [][2][]byte
		size  int
		n     int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.update(ctx, func(txn kvTxn) error {
			for _, kv := range batch {
				if err := txn.set(kv[0], kv[1]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		n += len(batch)
		batch, size = batch[:0], 0
		return nil
	}
	err := readExport(r, func(k, v []byte) error {
		batch = append(batch, [2][]byte{k, v})
		size += len(k) + len(v)
		if len(batch) >= importBatchRecords || size >= importBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		if n > 0 {
			return n, fmt.Errorf("statecache: import: %w (%d records were written before; run it again with overwrite into the same target, or start from an empty one)", err, n)
		}
		return 0, fmt.Errorf("statecache: import: %w", err)
	}
	return n, nil
}

// readExport decodes a stream that Export wrote, calling fn with each
// record (fn may keep k and v). It returns ErrBadExport for anything else,
// including a stream whose end is missing: a record is only known good
// once the checksum at the end matches, but fn sees records before.
func readExport(r io.Reader, fn func(k, v []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(exportHeader))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != exportHeader {
		return fmt.Errorf("%w: no header", ErrBadExport)
	}
	tr := &crcReader{r: br, h: crc32.NewIEEE()}
	readLen := func(limit uint64, what string) (uint64, error) {
		l, err := binary.ReadUvarint(tr)
		if err != nil {
			return 0, fmt.Errorf("%w: %s length: %v", ErrBadExport, what, err)
		}
		if l > limit {
			return 0, fmt.Errorf("%w: %s of %d bytes", ErrBadExport, what, l)
		}
		return l, nil
	}
	n := uint64(0)
	for {
		kl, err := readLen(maxExportKey, "key")
		if err != nil {
			return err
		}
		if kl == 0 {
			break
		}
		k := make([]byte, kl)
		if _, err := io.ReadFull(tr, k); err != nil {
			return fmt.Errorf("%w: key: %v", ErrBadExport, err)
		}
		vl, err := readLen(maxExportValue, "value")
		if err != nil {
			return err
		}
		v, err := readN(tr, vl)
		if err != nil {
			return fmt.Errorf("%w: value: %v", ErrBadExport, err)
		}
		n++
		if err := fn(k, v); err != nil {
			return err
		}
	}
	count, err := binary.ReadUvarint(tr)
	if err != nil {
		return fmt.Errorf("%w: record count: %v", ErrBadExport, err)
	}
	if count != n {
		return fmt.Errorf("%w: %d records, the end says %d", ErrBadExport, n, count)
	}
	sum := tr.h.Sum32()
	var crc [4]byte
	if _, err := io.ReadFull(br, crc[:]); err != nil {
		return fmt.Errorf("%w: checksum: %v", ErrBadExport, err)
	}
	if binary.BigEndian.Uint32(crc[:]) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrBadExport)
	}
	return nil
}

// crcReader hashes exactly the bytes it hands out.
type crcReader struct {
	r *bufio.Reader
	h hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.h.Write([]byte{b})
	}
	return b, err
}

// readN reads n bytes, growing the buffer as data arrives rather than
// trusting n: a damaged length cannot allocate more than the stream holds.
func readN(r io.Reader, n uint64) ([]byte, error) {
	const step = 1 << 20
	if n <= step {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var b []byte
	for uint64(len(b)) < n {
		c := min(n-uint64(len(b)), step)
		chunk := make([]byte, c)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		b = append(b, chunk...)
	}
	return b, nil
}
