package gateway

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size units, 1024-based as operators expect of a body limit.
const (
	KB ByteSize = 1 << 10
	MB ByteSize = 1 << 20
	GB ByteSize = 1 << 30
)

// ParseByteSize reads a size: plain bytes ("1048576"), or a number with a
// B, KB, MB or GB suffix ("5MB", "512 KB"), case-insensitive, 1024-based.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	upper := strings.ToUpper(t)
	unit := ByteSize(1)
	for _, u := range []struct {
		suffix string
		size   ByteSize
	}{{"KB", KB}, {"MB", MB}, {"GB", GB}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			unit = u.size
			upper = strings.TrimSpace(strings.TrimSuffix(upper, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(upper, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want bytes, or a number with KB or MB: 5MB)", s)
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n) * unit, nil
}

// String renders the size in the largest unit that divides it exactly, so
// that it reads as it was written in the config ("5MB") and parses back.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%GB == 0:
		return strconv.FormatInt(int64(b/GB), 10) + "GB"
	case b != 0 && b%MB == 0:
		return strconv.FormatInt(int64(b/MB), 10) + "MB"
	case b != 0 && b%KB == 0:
		return strconv.FormatInt(int64(b/KB), 10) + "KB"
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalText accepts a plain number of bytes or a size with a unit, as
// ParseByteSize does. YAML and JSON decoders call it for a scalar.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText writes the size with its unit, as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// ByteRate is a rate in bytes per second, written as a size with an
// optional "/s": "16KB/s", "16KB".
type ByteRate int64

// ParseByteRate reads a rate: a size (ParseByteSize) per second, "/s"
// optional.
func ParseByteRate(s string) (ByteRate, error) {
	t := strings.TrimSpace(s)
	if u := strings.ToLower(t); strings.HasSuffix(u, "/s") {
		t = t[:len(t)-2]
	}
	n, err := ParseByteSize(t)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q (want a size per second: 16KB/s)", s)
	}
	return ByteRate(n), nil
}

// String renders the rate as it parses back: "16KB/s".
func (r ByteRate) String() string { return ByteSize(r).String() + "/s" }

// UnmarshalText accepts a plain number of bytes per second or a size with
// a unit, "/s" optional, as ParseByteRate does.
func (r *ByteRate) UnmarshalText(text []byte) error {
	v, err := ParseByteRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText writes the rate as String does.
func (r ByteRate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
